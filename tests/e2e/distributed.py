"""The distributed mesh as the end-to-end tests meet it: four processes started by the launcher.

`launched_mesh` starts `aether serve --service <role>` for every role of the packaged topology,
the way `make run-distributed` does without a container engine, on free loopback ports, in a
temporary data and working directory (so no `.env` is read), with this process's Aether settings
removed: the roles run offline (no LLM) on the demo household. A test may ask for several
replicas of a role and give every role more settings (a shared PostgreSQL `DATABASE_URL`,
`SANDBOX=process`): `tests/e2e/test_distributed_faults.py` does.

The launcher used as a library does not stop the others when one role dies (that is the CLI's
policy, `run_local`), so a test may kill a role and keep talking to the rest.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
from a2a.client import A2ACardResolver, Client, ClientConfig, ClientFactory
from a2a.types.a2a_pb2 import AgentCard, StreamResponse

from aether.config import without_settings
from aether.deploy.launcher import Deployment
from aether.deploy.loader import load_topology
from aether.deploy.plan import LaunchOptions, resolve
from tests.deploy_harness import CapturedLog

TOKEN = "e2e-distributed-token"
AGENTS = ("architect", "ds-orchestrator", "ds-analysts")
ENERGY_QUESTION = "How much energy did I use last week, and what is my baseload?"


@contextmanager
def launched_mesh(
    work: Path,
    *,
    replicas: Mapping[str, int] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[tuple[Deployment, CapturedLog]]:
    """Every role started and ready; stopped (and its log kept in `work`) on exit.

    `replicas` runs several processes of a role (each on its own free port); `extra_env` is
    given to every role (e.g. a shared DATABASE_URL, SANDBOX=process).
    """
    topology = load_topology()
    options = LaunchOptions(
        replicas=dict(replicas or {}),
        free_ports=True,
        data_dir=work / "data",
        service_token=TOKEN,
        environment=without_settings(os.environ),
        extra_env=dict(extra_env or {}),
        cwd=work,
    )
    plan = resolve(topology, options)
    log = CapturedLog([process.name for process in plan.processes])
    try:
        with Deployment(plan, sink=log.sink, ready_timeout=90, stop_grace=15) as deployment:
            yield deployment, log
    finally:
        (work / "mesh.log").write_text(log.text, encoding="utf-8")


def chat_client(base_url: str) -> openai.OpenAI:
    """The openai SDK against a gateway (no API key is configured on loopback)."""
    return openai.OpenAI(
        base_url=f"{base_url}/api/v1", api_key="unused", max_retries=0, timeout=120
    )


def gateway_get(mesh: Deployment, path: str) -> Any:
    response = httpx.get(f"{mesh.urls['gateway']}/api/v1{path}", timeout=30, trust_env=False)
    response.raise_for_status()
    return response.json()


@asynccontextmanager
async def a2a_client(base_url: str, token: str | None = TOKEN) -> AsyncIterator[Client]:
    """The official SDK client, created from the card its resolver fetched."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(headers=headers, timeout=120, trust_env=False) as http:
        card = await resolve_card(http, base_url)
        yield ClientFactory(ClientConfig(streaming=True, httpx_client=http)).create(card)


async def resolve_card(http: httpx.AsyncClient, base_url: str) -> AgentCard:
    return await A2ACardResolver(http, base_url).get_agent_card()


def status_text(response: StreamResponse) -> str:
    parts = response.status_update.status.message.parts
    return "".join(part.text for part in parts if part.HasField("text"))


def answer_text(responses: list[StreamResponse]) -> str:
    return "".join(
        part.text
        for response in responses
        if response.HasField("artifact_update")
        and response.artifact_update.artifact.name == "answer"
        for part in response.artifact_update.artifact.parts
    )
