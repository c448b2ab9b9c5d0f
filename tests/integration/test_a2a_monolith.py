"""The monolith publishes the same A2A endpoints and cards under `/a2a/{service}/`, and its own card
at the root, so other A2A agents can discover and call Aether's agents in either topology."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.helpers.proto_helpers import new_text_message
from a2a.types.a2a_pb2 import AgentCard, SendMessageRequest, TaskState
from a2a.types.a2a_pb2 import Role as MessageRole

from aether import __version__
from aether.agents.contract import AgentName, AgentRequest, FinalEvent, StatusEvent
from aether.config import Role
from aether.mesh.a2a_client import A2AAgentClient
from tests.a2a_harness import SERVICE_TOKEN, RunningService, running_service

SERVICES = ["architect", "ds-orchestrator", "ds-analysts"]


@pytest.fixture(scope="module")
def monolith(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    with running_service(Role.GATEWAY, tmp_path_factory.mktemp("monolith")) as running:
        yield running


def card_at(url: str) -> AgentCard:
    async def fetch() -> AgentCard:
        async with httpx.AsyncClient() as http:
            return await A2ACardResolver(http, url).get_agent_card()

    return asyncio.run(fetch())


def test_the_gateway_serves_its_own_card(monolith: RunningService) -> None:
    card = card_at(monolith.base_url)
    assert card.name == "Aether"
    assert card.version == __version__
    assert card.documentation_url == f"{monolith.base_url}/docs"
    assert {i.url for i in card.supported_interfaces} == {f"{monolith.base_url}/a2a/architect/"}
    assert {skill.id for skill in card.skills} == {"energy-questions", "automation-proposals"}
    assert "bearer" in card.security_schemes


@pytest.mark.parametrize("service", SERVICES)
def test_every_agent_card_is_mounted_under_the_gateway(
    monolith: RunningService, service: str
) -> None:
    card = card_at(f"{monolith.base_url}/a2a/{service}/")
    assert card.name == f"Aether {service}"
    assert {i.url for i in card.supported_interfaces} == {f"{monolith.base_url}/a2a/{service}/"}
    response = httpx.get(f"{monolith.base_url}/a2a/{service}/.well-known/agent-card.json")
    assert response.headers["cache-control"].startswith("public")


def test_the_mounted_analysts_answer_the_sdk_client(monolith: RunningService) -> None:
    async def ask() -> list[TaskState]:
        headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
        async with httpx.AsyncClient(headers=headers, timeout=60) as http:
            card = await A2ACardResolver(
                http, f"{monolith.base_url}/a2a/ds-analysts/"
            ).get_agent_card()
            client = ClientFactory(ClientConfig(httpx_client=http)).create(card)
            message = new_text_message(
                "What was my peak demand last week?", role=MessageRole.ROLE_USER
            )
            return [
                r.status_update.status.state
                async for r in client.send_message(SendMessageRequest(message=message))
                if r.HasField("status_update")
            ]

    assert asyncio.run(ask())[-1] == TaskState.TASK_STATE_COMPLETED


def test_aethers_a2a_client_works_against_the_mounted_architect(monolith: RunningService) -> None:
    async def ask() -> list[object]:
        client = A2AAgentClient(f"{monolith.base_url}/a2a/architect", SERVICE_TOKEN, 60)
        request = AgentRequest(
            run_id="monolith-run", agent=AgentName.ARCHITECT, question="What is my baseload?"
        )
        try:
            return [event async for event in client.stream(request)]
        finally:
            await client.aclose()

    events = asyncio.run(ask())
    assert any(isinstance(e, StatusEvent) and e.agent is AgentName.ENERGY_ANALYST for e in events)
    assert isinstance(events[-1], FinalEvent)
    assert " W" in events[-1].text


def test_the_mounted_endpoints_need_the_credential(monolith: RunningService) -> None:
    call = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x"}}
    with monolith.http(token=None) as http:
        for service in SERVICES:
            response = http.post(f"/a2a/{service}/", json=call, headers={"A2A-Version": "1.0"})
            assert response.status_code == 401
            assert response.json()["error"]["code"] == -32000
        assert http.get("/.well-known/agent-card.json").status_code == 200
        assert http.get("/health").status_code == 200
