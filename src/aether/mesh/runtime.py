"""Opens everything one process needs (store, household data, sandbox, LLM, agents) and closes
it again; the gateway and the agent services share this assembly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aether.agents.planning import Clock
from aether.config import Settings
from aether.data.demo import ensure_demo_household
from aether.data.parquet_store import ParquetHouseholdSource
from aether.llm.client import LLMClient
from aether.mesh.topology import Mesh, build_local_mesh
from aether.sandbox.factory import build_runner
from aether.store import Store

log = logging.getLogger(__name__)

HOUSEHOLD_DIR = "household"


@dataclass(frozen=True)
class Runtime:
    store: Store
    mesh: Mesh
    sandbox_name: str
    llm_description: str


@asynccontextmanager
async def open_local_runtime(settings: Settings, clock: Clock) -> AsyncIterator[Runtime]:
    data_dir = settings.aether_data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    household_dir = data_dir / HOUSEHOLD_DIR
    wrote = await asyncio.to_thread(
        ensure_demo_household,
        household_dir,
        clock(),
        settings.demo_days,
        settings.household_timezone,
    )
    if wrote:
        log.info("wrote the demo household (%d days) to %s", settings.demo_days, household_dir)
    store = await Store.open(settings.effective_database_url)
    llm = LLMClient.from_settings(settings)
    runner = build_runner(data_dir, settings.analysis_timeout_seconds)
    try:
        mesh = build_local_mesh(
            source=ParquetHouseholdSource(household_dir),
            runner=runner,
            llm=llm,
            clock=clock,
            timezone=settings.household_timezone,
        )
        yield Runtime(
            store=store,
            mesh=mesh,
            sandbox_name=runner.name,
            llm_description="offline" if llm is None else f"{llm.endpoint} ({llm.model})",
        )
    finally:
        if llm is not None:
            await llm.aclose()
        await store.close()
