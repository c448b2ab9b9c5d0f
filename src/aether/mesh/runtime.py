"""Opens everything one process needs (store, household data, sandbox, LLM, agents, clients to the
other services) and closes it again; the gateway and the agent services share this assembly.

A process opens only what its hosted agents use: the household data and the sandbox where the
analysts run, the LLM where the architect, the gateway's router or the analysts (written
analyses) run.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from aether.agents.contract import AgentClient, ServiceName
from aether.agents.planning import Clock
from aether.config import Role, Settings
from aether.data.factory import DEMO_DIR, open_source, source_timezone
from aether.data.source import DataSource
from aether.llm.client import LLMClient
from aether.mesh.topology import (
    Mesh,
    build_mesh,
    hosted_services,
    remote_client,
    remote_downstream,
    remote_services,
)
from aether.observability.runner import TracingRunner
from aether.sandbox.factory import open_runner
from aether.sandbox.runner import Runner
from aether.store import Store

log = logging.getLogger(__name__)

HOUSEHOLD_DIR = DEMO_DIR
REMOTE_SANDBOX = "remote"
"""What a process without analysts reports as its sandbox: the analysis runs elsewhere."""


@dataclass(frozen=True)
class Runtime:
    role: Role
    store: Store
    mesh: Mesh
    sandbox_name: str
    llm_description: str
    downstream_urls: tuple[str, ...]
    """The replicas of the next service this process calls over the network (checked by
    `/ready`); empty when it calls none."""


@asynccontextmanager
async def open_runtime(settings: Settings, clock: Clock, role: Role) -> AsyncIterator[Runtime]:
    hosted = hosted_services(role, settings.deployment_mode)
    data_dir = settings.aether_data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as stack:
        store = await Store.open(settings.effective_database_url)
        stack.push_async_callback(store.close)
        runner: Runner | None = None
        sandbox_description = REMOTE_SANDBOX
        source: DataSource | None = None
        timezone = settings.household_timezone
        if ServiceName.DS_ANALYSTS in hosted:
            source = await stack.enter_async_context(open_source(settings, clock))
            timezone = await source_timezone(source, settings)
            sandbox = await stack.enter_async_context(open_runner(settings, store.artifacts))
            sandbox_description = sandbox.description
            # Every job traced and counted, whichever isolation runs it.
            runner = TracingRunner(sandbox)
        uses_llm = role is Role.GATEWAY or bool(
            {ServiceName.ARCHITECT, ServiceName.DS_ANALYSTS} & hosted
        )
        llm = LLMClient.from_settings(settings) if uses_llm else None
        if llm is not None:
            stack.push_async_callback(llm.aclose)
        remote: dict[ServiceName, AgentClient] = {}
        for service in sorted(remote_services(role, settings.deployment_mode)):
            client = remote_client(settings, service)
            stack.push_async_callback(client.aclose)
            remote[service] = client
        mesh = build_mesh(
            hosted=hosted,
            remote=remote,
            source=source,
            runner=runner,
            llm=llm,
            clock=clock,
            timezone=timezone,
            tariff=settings.tariff,
        )
        downstream = remote_downstream(role, settings.deployment_mode)
        if remote:
            log.info(
                "%s hosts %s; calls %s over A2A",
                role.value,
                ", ".join(sorted(s.value for s in hosted)) or "no agents",
                ", ".join(
                    f"{s.value} at {','.join(settings.service_urls(Role(s.value)))}" for s in remote
                ),
            )
        yield Runtime(
            role=role,
            store=store,
            mesh=mesh,
            sandbox_name=sandbox_description,
            llm_description=_describe_llm(llm, uses_llm),
            downstream_urls=(
                () if downstream is None else tuple(settings.service_urls(Role(downstream)))
            ),
        )


def _describe_llm(llm: LLMClient | None, used: bool) -> str:
    if llm is not None:
        return f"{llm.endpoint} ({llm.model})"
    return "offline" if used else "unused"
