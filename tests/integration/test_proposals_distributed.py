"""Human in the loop over real A2A: in distributed mode the architect service's task goes to
input-required when it needs an approval, the gateway shows the question, and the user's next
chat message resumes that same task (same task id, same context) until it completes; the
approved automation lands in the fake Home Assistant."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from a2a.types.a2a_pb2 import GetTaskRequest, Role, Task, TaskState

from aether.config import Role as ServiceRole
from aether.data.demo import generate_demo_household
from tests.a2a_harness import DistributedMesh, RunningService, running_mesh, running_service
from tests.fakes.home_assistant import FAKE_TOKEN, FakeHomeAssistant, running_fake_home_assistant
from tests.integration.test_a2a_services import sdk_client
from tests.integration.test_proposals_gateway import SET_UP, answer_of, events_of, proposals

API_KEY = "distributed-proposals-key"
IDENTITY = "api-key-" + hashlib.sha256(API_KEY.encode()).hexdigest()[:12]


@pytest.fixture(scope="module")
def home_assistant() -> Iterator[tuple[str, FakeHomeAssistant]]:
    now = datetime.now(UTC)
    fake = FakeHomeAssistant(generate_demo_household(now, days=14), now=now)
    with running_fake_home_assistant(fake) as url:
        yield url, fake


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributedMesh]:
    with running_mesh(tmp_path_factory.mktemp("mesh")) as running:
        yield running


@pytest.fixture(scope="module")
def gateway(
    mesh: DistributedMesh,
    home_assistant: tuple[str, FakeHomeAssistant],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningService]:
    url, _ = home_assistant
    with running_service(
        ServiceRole.GATEWAY,
        tmp_path_factory.mktemp("gateway"),
        deployment_mode="distributed",
        api_keys=[API_KEY],
        ha_url=url,
        ha_token=FAKE_TOKEN,
        **mesh.urls,
    ) as running:
        yield running


def chat(gateway: RunningService, text: str, conversation_id: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"model": "aether", "messages": [{"role": "user", "content": text}]}
    if conversation_id:
        body["conversation_id"] = conversation_id
    with gateway.http(API_KEY) as http:
        response = http.post("/api/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response


def architect_task(mesh: DistributedMesh, task_id: str) -> Task:
    """The task as the architect service's SDK task store holds it."""

    async def fetch() -> Task:
        async with sdk_client(mesh.architect) as (client, _):
            return await client.get_task(GetTaskRequest(id=task_id))

    return asyncio.run(fetch())


def test_the_answer_resumes_the_same_a2a_task_in_the_architect_service(
    mesh: DistributedMesh, gateway: RunningService, home_assistant: tuple[str, FakeHomeAssistant]
) -> None:
    _, fake = home_assistant
    first = chat(gateway, SET_UP)
    conversation_id = first.headers["x-conversation-id"]
    question = answer_of(first)
    assert "Shall I set up" in question
    with gateway.http(API_KEY) as http:
        waiting = proposals(http, status="proposed", conversation_id=conversation_id)
        [asked] = [
            e for e in events_of(http, first.headers["x-run-id"]) if e["type"] == "input_required"
        ]
    assert waiting
    assert fake.config_requests == []
    task_id, context_id = asked["payload"]["task_id"], asked["payload"]["context_id"]
    task = architect_task(mesh, task_id)
    assert task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    assert task.context_id == context_id
    assert "Shall I set up" in task.status.message.parts[0].text

    second = chat(gateway, "approve", conversation_id)
    assert "deployed to Home Assistant" in answer_of(second)
    task = architect_task(mesh, task_id)
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert task.context_id == context_id
    users = [m for m in task.history if m.role == Role.ROLE_USER]
    assert [m.parts[0].text for m in users] == [SET_UP, "approve"]
    assert "deployed to Home Assistant" in task.status.message.parts[0].text

    with gateway.http(API_KEY) as http:
        for proposal in waiting:
            stored = http.get(f"/api/v1/proposals/{proposal['id']}").json()
            assert stored["status"] == "deployed"
            assert fake.automations[stored["automation_id"]] == stored["automation"]
            assert [a["actor"] for a in stored["audit"]] == ["agent:architect", IDENTITY, IDENTITY]


def test_an_unclear_answer_keeps_the_task_waiting_and_later_completes_it(
    mesh: DistributedMesh, gateway: RunningService, home_assistant: tuple[str, FakeHomeAssistant]
) -> None:
    _, fake = home_assistant
    before = dict(fake.automations)
    first = chat(gateway, SET_UP)
    conversation_id = first.headers["x-conversation-id"]
    with gateway.http(API_KEY) as http:
        [asked] = [
            e for e in events_of(http, first.headers["x-run-id"]) if e["type"] == "input_required"
        ]
    task_id = asked["payload"]["task_id"]

    unclear = chat(gateway, "hmm, I'm not sure", conversation_id)
    assert "I need a clear answer" in answer_of(unclear)
    assert architect_task(mesh, task_id).status.state == TaskState.TASK_STATE_INPUT_REQUIRED

    later = chat(gateway, "later", conversation_id)
    assert "leave" in answer_of(later)
    task = architect_task(mesh, task_id)
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert [m.parts[0].text for m in task.history if m.role == Role.ROLE_USER] == [
        SET_UP,
        "hmm, I'm not sure",
        "later",
    ]
    with gateway.http(API_KEY) as http:
        still = proposals(http, status="proposed", conversation_id=conversation_id)
    assert still
    assert fake.automations == before
