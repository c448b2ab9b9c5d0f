"""Two replicas of one agent service on one database (a shared SQLite file, or PostgreSQL):
either answers for the tasks of the other, and client ids the task tables cannot hold are
refused with a clear error."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from a2a.client import A2ACardResolver, Client, ClientConfig, ClientFactory
from a2a.helpers.proto_helpers import new_text_message
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    TaskState,
)
from a2a.types.a2a_pb2 import Role as MessageRole
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from aether.config import Role
from aether.observability.runner import TracingRunner
from aether.sandbox.jobs import AnalysisJob, JobOutcome
from aether.store import create_engine
from aether.store.a2a_tables import A2A_TASK_TABLE_NAMES
from aether.store.migrate import VERSION_TABLE, alembic_config
from tests.a2a_harness import SERVICE_TOKEN, RunningService, running_replicas
from tests.integration.conftest import DatabaseServer

QUESTION = "What was my baseload last week?"
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
TOO_LONG = "t" * 37
VERSION_1_0 = {"A2A-Version": "1.0"}

Replicas = tuple[RunningService, RunningService, str]


@pytest.fixture(scope="module")
def replicas(
    database_server: DatabaseServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicas]:
    """Two ds-analysts replicas started together on a fresh database, and its URL."""
    url = asyncio.run(database_server.create_database())
    root = tmp_path_factory.mktemp(f"replicas-{database_server.name}")
    with running_replicas(Role.DS_ANALYSTS, root, database_url=url) as (first, second):
        yield first, second, url


@dataclass
class Gate:
    """Holds every analysis job before it starts, until opened; notes a cancelled wait."""

    opened: threading.Event
    waiting: threading.Event
    cancelled: threading.Event


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    """(The replicas run in this process, so patching the runner reaches both.)"""
    held = Gate(threading.Event(), threading.Event(), threading.Event())
    run = TracingRunner.run

    async def run_when_opened(self: TracingRunner, job: AnalysisJob) -> JobOutcome:
        held.waiting.set()
        try:
            await asyncio.to_thread(held.opened.wait, 60)  # opened at the latest on teardown
        except asyncio.CancelledError:
            held.cancelled.set()
            raise
        return await run(self, job)

    monkeypatch.setattr(TracingRunner, "run", run_when_opened)
    yield held
    held.opened.set()


@asynccontextmanager
async def sdk_client(service: RunningService) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:
        card = await A2ACardResolver(http, service.base_url).get_agent_card()
        yield ClientFactory(ClientConfig(streaming=True, httpx_client=http)).create(card)


def question() -> SendMessageRequest:
    message = new_text_message(QUESTION, role=MessageRole.ROLE_USER)
    message.metadata.update({"skill": "energy-analyst"})
    return SendMessageRequest(message=message)


def state_of(response: StreamResponse) -> TaskState:
    if response.HasField("task"):
        return response.task.status.state
    return response.status_update.status.state


def status_text(response: StreamResponse) -> str:
    parts = response.status_update.status.message.parts
    return "".join(part.text for part in parts if part.HasField("text"))


def artifact_text(responses: list[StreamResponse], name: str) -> str:
    return "".join(
        part.text
        for response in responses
        if response.artifact_update.artifact.name == name
        for part in response.artifact_update.artifact.parts
    )


async def collect(responses: AsyncIterator[StreamResponse]) -> list[StreamResponse]:
    return [response async for response in responses]


async def until_in_sandbox(sent: AsyncIterator[StreamResponse], gate: Gate) -> str:
    """Reads the stream until the analyst announced its job and waits for it at the gate;
    everything the task did before is then stored. Returns the task's id."""
    task_id = (await anext(sent)).task.id
    async for response in sent:
        if "sandbox" in status_text(response):
            break
    assert await asyncio.to_thread(gate.waiting.wait, 60), "the analysis never started"
    return task_id


def test_replicas_started_together_migrated_the_database_once(replicas: Replicas) -> None:
    async def schema() -> tuple[set[str], list[str]]:
        engine = create_engine(replicas[2])
        try:
            async with engine.connect() as connection:
                tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
                query = text(f"SELECT version_num FROM {VERSION_TABLE}")
                versions = list((await connection.execute(query)).scalars())
                return set(tables), versions
        finally:
            await engine.dispose()

    tables, versions = asyncio.run(schema())
    assert versions == [HEAD]
    assert tables >= set(A2A_TASK_TABLE_NAMES)
    for replica in replicas[:2]:
        with replica.http() as http:
            assert http.get("/ready").json()["checks"]["database"] == "ok"


def test_a_task_running_on_one_replica_is_followed_and_read_on_the_other(
    replicas: Replicas, gate: Gate
) -> None:
    first, second, _ = replicas

    async def follow() -> None:
        async with sdk_client(first) as one, sdk_client(second) as two:
            sent = one.send_message(question())
            task_id = await until_in_sandbox(sent, gate)
            rest_of_sent = asyncio.create_task(collect(sent))

            running = await two.get_task(GetTaskRequest(id=task_id))
            assert running.status.state == TaskState.TASK_STATE_WORKING
            followed = two.subscribe(SubscribeToTaskRequest(id=task_id))
            snapshot = await anext(followed)
            assert snapshot.task.id == task_id
            assert snapshot.task.status.state == TaskState.TASK_STATE_WORKING
            gate.opened.set()  # everything from here on is news to the second replica
            remaining = await collect(followed)
            on_first = await rest_of_sent

            assert state_of(remaining[-1]) == TaskState.TASK_STATE_COMPLETED
            assert state_of(on_first[-1]) == TaskState.TASK_STATE_COMPLETED
            answer = artifact_text(on_first, "answer")
            assert answer
            assert artifact_text(remaining, "answer") == answer
            assert any(r.artifact_update.artifact.name == "findings" for r in remaining)
            read_on_second = await two.get_task(GetTaskRequest(id=task_id))
            read_on_first = await one.get_task(GetTaskRequest(id=task_id))
            assert read_on_second.status.state == TaskState.TASK_STATE_COMPLETED
            assert read_on_second == read_on_first

    asyncio.run(follow())


def test_cancel_on_the_other_replica_stops_the_work_where_it_runs(
    replicas: Replicas, gate: Gate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aether.mesh")
    first, second, _ = replicas

    async def cancel_elsewhere() -> str:
        async with sdk_client(first) as one, sdk_client(second) as two:
            sent = one.send_message(question())
            task_id = await until_in_sandbox(sent, gate)
            # The analyst now waits for its job, silent: no save on the first replica can
            # notice the cancel, its executor must be told.
            rest_of_sent = asyncio.create_task(collect(sent))

            cancelled = await two.cancel_task(CancelTaskRequest(id=task_id))
            assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
            on_first = await rest_of_sent

            assert gate.cancelled.is_set(), "the analysis on the first replica kept running"
            assert state_of(on_first[-1]) == TaskState.TASK_STATE_CANCELED
            assert not any(r.artifact_update.artifact.name == "findings" for r in on_first)
            for client in (one, two):
                task = await client.get_task(GetTaskRequest(id=task_id))
                assert task.status.state == TaskState.TASK_STATE_CANCELED
            return task_id

    task_id = asyncio.run(cancel_elsewhere())
    messages = [record.getMessage() for record in caplog.records]
    assert f"ds-analysts task {task_id} was cancelled by another replica" in messages


def jsonrpc(method: str, params: dict[str, object]) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


def message(**ids: object) -> dict[str, object]:
    return {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": QUESTION}], **ids}


def jsonrpc_answer(response: httpx.Response) -> dict[str, object]:
    """The JSON-RPC answer, also when a streaming method sent it as its one SSE event."""
    if response.headers["content-type"].startswith("text/event-stream"):
        data = next(line for line in response.text.splitlines() if line.startswith("data:"))
        event: dict[str, object] = json.loads(data.removeprefix("data:"))
        return event
    body: dict[str, object] = response.json()
    return body


JSONRPC_BAD_IDS = {
    "SendMessage contextId": (
        jsonrpc("SendMessage", {"message": message(contextId=TOO_LONG)}),
        "message.contextId",
    ),
    "SendMessage taskId": (
        jsonrpc("SendMessage", {"message": message(taskId=TOO_LONG)}),
        "message.taskId",
    ),
    "SendMessage referenceTaskIds": (
        jsonrpc("SendMessage", {"message": message(referenceTaskIds=["ok", TOO_LONG])}),
        "message.referenceTaskIds[1]",
    ),
    "SendStreamingMessage contextId": (
        jsonrpc("SendStreamingMessage", {"message": message(contextId=TOO_LONG)}),
        "message.contextId",
    ),
    "GetTask": (jsonrpc("GetTask", {"id": TOO_LONG}), "id"),
    "CancelTask": (jsonrpc("CancelTask", {"id": TOO_LONG}), "id"),
    "SubscribeToTask": (jsonrpc("SubscribeToTask", {"id": TOO_LONG}), "id"),
    "ListTasks contextId": (jsonrpc("ListTasks", {"contextId": TOO_LONG}), "contextId"),
}


@pytest.mark.parametrize("case", list(JSONRPC_BAD_IDS))
def test_an_overlong_id_is_invalid_params_on_json_rpc(replicas: Replicas, case: str) -> None:
    call, field = JSONRPC_BAD_IDS[case]
    with replicas[1].http() as http:
        response = http.post("/", json=call, headers=VERSION_1_0)
    assert response.status_code == 200
    error = jsonrpc_answer(response)["error"]
    assert isinstance(error, dict)
    assert error["code"] == -32602
    assert error["message"] == f"{field} is 37 characters long; at most 36 are allowed"


def test_control_characters_in_an_id_are_invalid_params(replicas: Replicas) -> None:
    call = jsonrpc("SendMessage", {"message": message(contextId="context\u0000")})
    with replicas[0].http() as http:
        error = http.post("/", json=call, headers=VERSION_1_0).json()["error"]
    assert error["code"] == -32602
    assert error["message"].startswith("message.contextId contains control characters")


def test_an_overlong_id_is_invalid_params_on_v0_3(replicas: Replicas) -> None:
    call = {
        "jsonrpc": "2.0",
        "id": "1",
        "method": "message/send",
        "params": {
            "message": {
                "kind": "message",
                "messageId": "m-1",
                "role": "user",
                "contextId": TOO_LONG,
                "parts": [{"kind": "text", "text": QUESTION}],
            }
        },
    }
    with replicas[0].http() as http:
        error = http.post("/", json=call).json()["error"]
    assert error["code"] == -32602
    assert error["message"].startswith("message.contextId is 37 characters long")


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/message:send", {"message": message(contextId=TOO_LONG)}, "message.contextId"),
        ("POST", "/message:stream", {"message": message(taskId=TOO_LONG)}, "message.taskId"),
        ("GET", f"/tasks/{TOO_LONG}", None, "id"),
        ("POST", f"/tasks/{TOO_LONG}:cancel", None, "id"),
        ("GET", f"/tasks/{TOO_LONG}:subscribe", None, "id"),
    ],
    ids=["send", "stream", "get", "cancel", "subscribe"],
)
def test_an_overlong_id_is_a_400_on_http_json(
    replicas: Replicas, method: str, path: str, body: dict[str, object] | None, field: str
) -> None:
    with replicas[1].http() as http:
        response = http.request(method, path, json=body, headers=VERSION_1_0)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == f"{field} is 37 characters long; at most 36 are allowed"


def test_a_36_character_context_id_is_kept(replicas: Replicas) -> None:
    context_id = "c" * 36
    call = jsonrpc("SendMessage", {"message": message(contextId=context_id)})
    with replicas[0].http() as http:
        task = http.post("/", json=call, headers=VERSION_1_0).json()["result"]["task"]
    assert task["contextId"] == context_id
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    with replicas[1].http() as http:
        fetched = http.post("/", json=jsonrpc("GetTask", {"id": task["id"]}), headers=VERSION_1_0)
    assert fetched.json()["result"]["contextId"] == context_id
