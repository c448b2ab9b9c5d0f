"""The three agent services over real A2A, talked to with the official a2a-sdk client."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from a2a.client import A2ACardResolver, A2AClientError, Client, ClientConfig, ClientFactory
from a2a.helpers.proto_helpers import get_data_parts, new_text_message
from a2a.types.a2a_pb2 import (
    AgentCard,
    CancelTaskRequest,
    GetTaskRequest,
    SendMessageRequest,
    StreamResponse,
    TaskState,
)
from a2a.types.a2a_pb2 import (
    Role as MessageRole,
)

from aether import __version__
from aether.config import Role
from aether.mesh.a2a_mapping import EVENT_MEDIA_TYPE
from aether.sandbox.layout import JOB_MODULE
from tests.a2a_harness import SERVICE_TOKEN, DistributedMesh, RunningService, running_mesh

SKILLS = {
    Role.ARCHITECT: {"energy-questions", "automation-proposals"},
    Role.DS_ORCHESTRATOR: {"team-analysis"},
    Role.DS_ANALYSTS: {"energy-analyst", "behavioral-analyst", "diagnostic-analyst"},
}


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributedMesh]:
    with running_mesh(tmp_path_factory.mktemp("mesh")) as running:
        yield running


@asynccontextmanager
async def sdk_client(
    service: RunningService, token: str | None = SERVICE_TOKEN
) -> AsyncIterator[tuple[Client, AgentCard]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:
        card = await A2ACardResolver(http, service.base_url).get_agent_card()
        client = ClientFactory(ClientConfig(streaming=True, httpx_client=http)).create(card)
        yield client, card


def status_text(response: StreamResponse) -> str:
    parts = response.status_update.status.message.parts
    return "".join(part.text for part in parts if part.HasField("text"))


@pytest.mark.parametrize("role", list(SKILLS), ids=lambda r: r.value)
def test_each_card_describes_its_service(mesh: DistributedMesh, role: Role) -> None:
    service = mesh.service(role)

    async def fetch() -> AgentCard:
        async with httpx.AsyncClient() as http:  # no credential: cards are public
            return await A2ACardResolver(http, service.base_url).get_agent_card()

    card = asyncio.run(fetch())
    assert card.name == f"Aether {role.value}"
    assert card.version == __version__
    assert card.provider.organization == "Aether"
    assert card.capabilities.streaming
    bindings = {(i.protocol_binding, i.protocol_version) for i in card.supported_interfaces}
    assert bindings == {(b, v) for b in ("JSONRPC", "HTTP+JSON") for v in ("1.0", "0.3")}
    assert {i.url for i in card.supported_interfaces} == {f"{service.base_url}/"}
    scheme = card.security_schemes["bearer"].http_auth_security_scheme
    assert scheme.scheme == "Bearer"
    assert [set(r.schemes) for r in card.security_requirements] == [{"bearer"}]
    assert {skill.id for skill in card.skills} == SKILLS[role]
    assert all(skill.examples and skill.description for skill in card.skills)
    response = httpx.get(f"{service.base_url}/.well-known/agent-card.json")
    assert response.headers["cache-control"].startswith("public, max-age=")


@pytest.mark.parametrize(
    ("role", "question", "skill"),
    [
        (Role.DS_ANALYSTS, "What was my baseload last week?", "energy-analyst"),
        (Role.DS_ORCHESTRATOR, "How much energy did I use last week?", None),
        (Role.ARCHITECT, "How much energy did I use last week?", None),
    ],
    ids=lambda value: value.value if isinstance(value, Role) else None,
)
def test_a_plain_text_message_streams_real_findings_and_get_task_answers_after(
    mesh: DistributedMesh, role: Role, question: str, skill: str | None
) -> None:
    async def converse() -> None:
        async with sdk_client(mesh.service(role)) as (client, _):
            message = new_text_message(question, role=MessageRole.ROLE_USER)
            if skill:
                message.metadata.update({"skill": skill})
            responses = [r async for r in client.send_message(SendMessageRequest(message=message))]
            task_id = responses[0].task.id
            updates = [r.status_update for r in responses if r.HasField("status_update")]
            states = [update.status.state for update in updates]
            assert states[0] == TaskState.TASK_STATE_WORKING
            assert states[-1] == TaskState.TASK_STATE_COMPLETED
            assert any("sandbox" in status_text(r) for r in responses)
            findings = [
                data
                for r in responses
                if r.HasField("artifact_update") and r.artifact_update.artifact.name == "findings"
                for data in get_data_parts(r.artifact_update.artifact.parts)
            ]
            answer = "".join(
                part.text
                for r in responses
                if r.HasField("artifact_update") and r.artifact_update.artifact.name == "answer"
                for part in r.artifact_update.artifact.parts
            )
            assert re.search(r"\d[\d,.]* (kWh|W)\b", answer), answer
            if role is not Role.ARCHITECT:
                assert findings
                assert findings[0]["findings"][0]["metrics"]
            task = await client.get_task(GetTaskRequest(id=task_id))
            assert task.status.state == TaskState.TASK_STATE_COMPLETED
            assert task.status.message.parts[0].text
            stored = [a for a in task.artifacts if a.name == "answer"]
            assert "".join(part.text for part in stored[0].parts) == answer
            assert task.history[0].parts[0].text == question

    asyncio.run(converse())


def job_processes(data_dir: Path) -> list[str]:
    """Command lines of sandbox jobs working under `data_dir`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if JOB_MODULE in cmdline and str(data_dir) in cmdline:
            found.append(cmdline)
    return found


def test_cancel_stops_the_running_analysis_and_ends_the_task_canceled(
    mesh: DistributedMesh,
) -> None:
    data_dir = mesh.analysts.settings.aether_data_dir.resolve()

    async def cancel_midway() -> None:
        async with sdk_client(mesh.analysts) as (client, _):
            message = new_text_message("What is my baseload?", role=MessageRole.ROLE_USER)
            task_id = ""
            seen: list[StreamResponse] = []
            async for response in client.send_message(SendMessageRequest(message=message)):
                seen.append(response)
                task_id = task_id or response.task.id
                if "sandbox" in status_text(response):
                    assert job_processes(data_dir), "the analysis job should be running"
                    task = await client.cancel_task(CancelTaskRequest(id=task_id))
                    assert task.status.state == TaskState.TASK_STATE_CANCELED
                    assert job_processes(data_dir) == []
            assert seen[-1].status_update.status.state == TaskState.TASK_STATE_CANCELED
            assert not any(r.artifact_update.artifact.name == "findings" for r in seen)
            task = await client.get_task(GetTaskRequest(id=task_id))
            assert task.status.state == TaskState.TASK_STATE_CANCELED
            assert list((data_dir / "sandbox").iterdir()) == []

    asyncio.run(cancel_midway())


@pytest.mark.parametrize("role", list(SKILLS), ids=lambda r: r.value)
def test_a2a_routes_need_a_credential_while_card_and_probes_stay_public(
    mesh: DistributedMesh, role: Role
) -> None:
    service = mesh.service(role)
    call = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x"}}
    for token in (None, "wrong-token"):
        with service.http(token) as http:
            response = http.post("/", json=call, headers={"A2A-Version": "1.0"})
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
            body = response.json()
            assert body["jsonrpc"] == "2.0"
            assert body["error"]["code"] == -32000
            assert "SERVICE_TOKEN" in body["error"]["message"]
            rest = http.get("/tasks/x", headers={"A2A-Version": "1.0"})
            assert rest.status_code == 401
            assert rest.json()["error"]["status"] == "UNAUTHENTICATED"
            assert http.get("/.well-known/agent-card.json").status_code == 200
            assert http.get("/health").json()["role"] == role.value
            ready = http.get("/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["database"] == "ok"
    with service.http() as http:
        response = http.post("/", json=call, headers={"A2A-Version": "1.0"})
        assert response.status_code == 200
        assert response.json()["error"]["code"] == -32001  # task not found, but let in


def test_the_sdk_client_without_a_credential_is_refused(mesh: DistributedMesh) -> None:
    async def send() -> None:
        async with sdk_client(mesh.architect, token=None) as (client, _):
            message = new_text_message("hello", role=MessageRole.ROLE_USER)
            with pytest.raises(A2AClientError, match="401"):
                _ = [r async for r in client.send_message(SendMessageRequest(message=message))]

    asyncio.run(send())


def test_ready_checks_the_next_service_downstream(mesh: DistributedMesh) -> None:
    with mesh.orchestrator.http() as http:
        body = http.get("/ready").json()
    assert body["checks"] == {"database": "ok", "downstream": "ok"}
    with mesh.analysts.http() as http:
        body = http.get("/ready").json()
    assert body["checks"] == {"database": "ok"}
    assert body["sandbox"] == mesh.analysts.http().get("/health").json()["sandbox"]


def test_a_v0_3_client_still_gets_an_answer(mesh: DistributedMesh) -> None:
    call = {
        "jsonrpc": "2.0",
        "id": "1",
        "method": "message/send",
        "params": {
            "message": {
                "kind": "message",
                "messageId": "m-1",
                "role": "user",
                "parts": [{"kind": "text", "text": "Are any of my sensors broken?"}],
                "metadata": {"skill": "diagnostic-analyst"},
            }
        },
    }
    with mesh.analysts.http() as http:
        result = http.post("/", json=call).json()["result"]
    assert result["kind"] == "task"
    assert result["status"]["state"] == "completed"
    events = [
        part["data"]
        for artifact in result["artifacts"]
        for part in artifact["parts"]
        if part["kind"] == "data"
    ]
    assert events[0]["agent"] == "diagnostic-analyst"


def test_the_http_json_binding_answers_too(mesh: DistributedMesh) -> None:
    body = {
        "message": {
            "messageId": "m-2",
            "role": "ROLE_USER",
            "parts": [{"text": "What was my peak demand last week?"}],
        }
    }
    with mesh.orchestrator.http() as http:
        response = http.post("/message:send", json=body, headers={"A2A-Version": "1.0"})
        assert response.status_code == 200, response.text
        task = response.json()["task"]
        assert task["status"]["state"] == "TASK_STATE_COMPLETED"
        fetched = http.get(f"/tasks/{task['id']}", headers={"A2A-Version": "1.0"}).json()
    assert fetched["status"]["state"] == "TASK_STATE_COMPLETED"
    assert json.dumps(fetched).count(EVENT_MEDIA_TYPE) >= 2
