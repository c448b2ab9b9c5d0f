"""A2A 1.0 conformance of the agent services, judged against a bare a2a-sdk agent.

The official compatibility kit (a2a-tck) is not published on PyPI and cannot be fetched here (see
docs/topologies.md), so this test plays its part for the JSON-RPC binding: every probe is sent to
each of Aether's three agent services (as the launcher runs them) and to the bare echo agent of
bench/echo_agent.py (the SDK's default server, in-memory task store), and Aether must answer as
the bare agent does: the same result shape or the same JSON-RPC error code, which must also be
the one the A2A 1.0 specification names where it names one.

The one intended difference: Aether also serves the v0.3 methods (`message/send`, ...) for 0.3
clients; the bare agent, without the SDK's compatibility layer, does not know them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from aether.deploy.launcher import Deployment
from aether.deploy.ports import free_ports
from tests.deploy_harness import wait_for
from tests.e2e.distributed import AGENTS, TOKEN, launched_mesh

ECHO_AGENT = Path(__file__).parents[2] / "bench" / "echo_agent.py"
VERSION = {"A2A-Version": "1.0"}

# Error codes of the A2A 1.0 specification (JSON-RPC binding).
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
TASK_NOT_FOUND, TASK_NOT_CANCELABLE, PUSH_NOT_SUPPORTED = -32001, -32002, -32003
UNSUPPORTED_OPERATION, VERSION_NOT_SUPPORTED = -32004, -32009

Outcome = tuple[Any, ...]


@dataclass
class Target:
    name: str
    url: str
    headers: dict[str, str]
    quick: str
    """A message the agent completes."""
    slow: str
    """A message whose task runs long enough to be cancelled while WORKING."""
    metadata: dict[str, str] = field(default_factory=dict)
    finished: str = ""
    """The id of a task this agent has completed (made on first use)."""

    def rpc(self, method: str, params: dict[str, Any], **headers: str) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        return self.post(json.dumps(body), **headers)

    def post(self, body: str, **headers: str) -> dict[str, Any]:
        """`headers` override the target's; an empty value leaves that header out."""
        merged = {**self.headers, "Content-Type": "application/json", **headers}
        response = httpx.post(
            self.url,
            content=body,
            headers={name: value for name, value in merged.items() if value},
            timeout=120,
            trust_env=False,
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def message(self, text: str, **extra: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "messageId": str(uuid.uuid4()),
            "role": "ROLE_USER",
            "parts": [{"text": text}],
            **extra,
        }
        if self.metadata:
            message["metadata"] = self.metadata
        return {"message": message}

    def finished_task(self) -> str:
        if not self.finished:
            result = self.rpc("SendMessage", self.message(self.quick))["result"]
            assert result["task"]["status"]["state"] == "TASK_STATE_COMPLETED", result
            self.finished = result["task"]["id"]
        return self.finished

    def stream(self, method: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The `result` of every SSE event of a streaming call."""
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        headers = {**self.headers, "Accept": "text/event-stream"}
        with (
            httpx.Client(timeout=120, trust_env=False) as http,
            http.stream("POST", self.url, json=body, headers=headers) as response,
        ):
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data:"):
                    event = json.loads(line[len("data:") :])
                    assert "error" not in event, event
                    yield event["result"]


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    [port] = free_ports(1)
    log = (tmp_path_factory.mktemp("echo") / "echo.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, str(ECHO_AGENT), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for(lambda: card_answers(url, process), timeout=30, what="the echo agent")
        yield Target("bare a2a-sdk echo", url, dict(VERSION), quick="hello", slow="wait")
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def card_answers(url: str, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, "the echo agent exited"
    try:
        return httpx.get(f"{url}.well-known/agent-card.json", timeout=2).is_success
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with launched_mesh(tmp_path_factory.mktemp("mesh")) as (deployment, _):
        yield deployment


@pytest.fixture(scope="module")
def services(mesh: Deployment) -> dict[str, Target]:
    headers = {**VERSION, "Authorization": f"Bearer {TOKEN}"}
    baseload = "What is my baseload?"
    return {
        "architect": Target(
            "architect", f"{mesh.urls['architect']}/", headers, quick="hello", slow=baseload
        ),
        "ds-orchestrator": Target(
            "ds-orchestrator",
            f"{mesh.urls['ds-orchestrator']}/",
            headers,
            quick=baseload,
            slow="Give me a full report on last month.",
        ),
        "ds-analysts": Target(
            "ds-analysts",
            f"{mesh.urls['ds-analysts']}/",
            headers,
            quick=baseload,
            slow=baseload,
            metadata={"skill": "energy-analyst"},
        ),
    }


# --- probes: one request each, reduced to what must agree ---------------------------------------


def outcome(answer: dict[str, Any]) -> Outcome:
    """("error", code), or ("result", its top-level fields, the task state if it holds one)."""
    if "error" in answer:
        return ("error", answer["error"]["code"])
    result = answer["result"]
    task = result.get("task", result)
    return ("result", tuple(sorted(result)), task.get("status", {}).get("state"))


def send_message(t: Target) -> Outcome:
    return outcome(t.rpc("SendMessage", t.message(t.quick)))


def send_and_return_immediately(t: Target) -> Outcome:
    params = {**t.message(t.quick), "configuration": {"returnImmediately": True}}
    return outcome(t.rpc("SendMessage", params))


def get_finished_task(t: Target) -> Outcome:
    answer = t.rpc("GetTask", {"id": t.finished_task()})
    assert answer["result"]["id"] == t.finished_task()
    return outcome(answer)


def get_task_without_history(t: Target) -> Outcome:
    answer = t.rpc("GetTask", {"id": t.finished_task(), "historyLength": 0})
    return (*outcome(answer), "history" in answer["result"])


def list_tasks(t: Target) -> Outcome:
    finished = t.finished_task()
    answer = t.rpc("ListTasks", {})
    return (*outcome(answer), finished in {task["id"] for task in answer["result"]["tasks"]})


PROBES: dict[str, tuple[Callable[[Target], Outcome], Outcome | None]] = {
    # name: (probe, what the specification requires; None where it leaves the shape open)
    "SendMessage": (send_message, None),
    "SendMessage, returnImmediately": (send_and_return_immediately, None),
    "GetTask of a finished task": (get_finished_task, None),
    "GetTask, historyLength 0": (get_task_without_history, None),
    "ListTasks": (list_tasks, None),
    "GetTask of an unknown task": (
        lambda t: outcome(t.rpc("GetTask", {"id": str(uuid.uuid4())})),
        ("error", TASK_NOT_FOUND),
    ),
    "CancelTask of an unknown task": (
        lambda t: outcome(t.rpc("CancelTask", {"id": str(uuid.uuid4())})),
        ("error", TASK_NOT_FOUND),
    ),
    "CancelTask of a finished task": (
        lambda t: outcome(t.rpc("CancelTask", {"id": t.finished_task()})),
        ("error", TASK_NOT_CANCELABLE),
    ),
    "SendMessage to a finished task": (
        lambda t: outcome(t.rpc("SendMessage", t.message(t.quick, taskId=t.finished_task()))),
        ("error", UNSUPPORTED_OPERATION),
    ),
    "SubscribeToTask of a finished task": (
        lambda t: outcome(t.rpc("SubscribeToTask", {"id": t.finished_task()})),
        ("error", UNSUPPORTED_OPERATION),
    ),
    "SendMessage without a message": (
        lambda t: outcome(t.rpc("SendMessage", {})),
        ("error", INVALID_PARAMS),
    ),
    "GetTask with a number for an id": (
        lambda t: outcome(t.rpc("GetTask", {"id": 5})),
        ("error", INVALID_PARAMS),
    ),
    "an unknown method": (
        lambda t: outcome(t.rpc("tasks/explode", {})),
        ("error", METHOD_NOT_FOUND),
    ),
    "a body that is not JSON": (
        lambda t: outcome(t.post("{not json")),
        ("error", PARSE_ERROR),
    ),
    "a JSON body that is no JSON-RPC request": (
        lambda t: outcome(t.post(json.dumps({"id": 1, "params": {}}))),
        ("error", INVALID_REQUEST),
    ),
    "an A2A-Version the service does not speak": (
        lambda t: outcome(t.rpc("GetTask", {"id": "x"}, **{"A2A-Version": "9.9"})),
        ("error", VERSION_NOT_SUPPORTED),
    ),
    "CreateTaskPushNotificationConfig (push not offered)": (
        lambda t: outcome(
            t.rpc(
                "CreateTaskPushNotificationConfig",
                {"taskId": t.finished_task(), "url": "https://example.com/hook"},
            )
        ),
        ("error", PUSH_NOT_SUPPORTED),
    ),
    "GetExtendedAgentCard (none offered)": (
        lambda t: outcome(t.rpc("GetExtendedAgentCard", {})),
        ("error", UNSUPPORTED_OPERATION),
    ),
}


@pytest.mark.parametrize("service", AGENTS)
@pytest.mark.parametrize("probe", list(PROBES))
def test_each_service_answers_as_the_bare_sdk_agent(
    services: dict[str, Target], echo: Target, service: str, probe: str
) -> None:
    run, required = PROBES[probe]
    ours, bare = run(services[service]), run(echo)
    assert ours == bare, f"{service}: {ours} where the bare SDK agent gives {bare}"
    if required is not None:
        assert ours == required


# --- streaming and cancelling ----------------------------------------------------------------


def stream_shape(events: list[dict[str, Any]]) -> tuple[str, set[str], str, int]:
    """The first event's kind, the kinds in between, the final state, how many task ids."""
    task_ids = {e.get("task", {}).get("id") or next(iter(e.values()))["taskId"] for e in events}
    middle = {next(iter(e)) for e in events[1:-1]}
    final = events[-1]["statusUpdate"]["status"]["state"]
    return next(iter(events[0])), middle, final, len(task_ids)


@pytest.mark.parametrize("service", AGENTS)
def test_send_streaming_message_has_the_bare_agents_shape(
    services: dict[str, Target], echo: Target, service: str
) -> None:
    shapes = {}
    for target in (services[service], echo):
        events = list(target.stream("SendStreamingMessage", target.message(target.quick)))
        shapes[target.name] = stream_shape(events)
    ours, bare = shapes[service], shapes[echo.name]
    # Both open with the task and close on COMPLETED, every event about that one task; in
    # between, Aether streams its progress (status updates) where the echo has nothing to say.
    assert ours[0] == bare[0] == "task"
    assert ours[2] == bare[2] == "TASK_STATE_COMPLETED"
    assert ours[3] == bare[3] == 1
    assert bare[1] <= ours[1] <= {"statusUpdate", "artifactUpdate"}


def cancel_while_working(target: Target) -> tuple[str, str, str]:
    """Cancel the slow task at its first WORKING status: (cancel's answer, the stream's last
    state, GetTask's state afterwards)."""
    task_id, cancelled, last = "", "", ""
    for event in target.stream("SendStreamingMessage", target.message(target.slow)):
        task_id = task_id or event.get("task", {}).get("id", "")
        state = event.get("statusUpdate", {}).get("status", {}).get("state", "")
        last = state or last
        if state == "TASK_STATE_WORKING" and not cancelled:
            answer = target.rpc("CancelTask", {"id": task_id})
            cancelled = answer["result"]["status"]["state"]
    stored = target.rpc("GetTask", {"id": task_id})["result"]["status"]["state"]
    return cancelled, last, stored


@pytest.mark.parametrize("service", AGENTS)
def test_cancel_task_of_a_running_task_behaves_as_on_the_bare_agent(
    services: dict[str, Target], echo: Target, service: str
) -> None:
    ours, bare = cancel_while_working(services[service]), cancel_while_working(echo)
    assert ours == bare == ("TASK_STATE_CANCELED",) * 3


def test_only_aether_also_speaks_a2a_0_3(services: dict[str, Target], echo: Target) -> None:
    params = {
        "message": {
            "kind": "message",
            "messageId": str(uuid.uuid4()),
            "role": "user",
            "parts": [{"kind": "text", "text": "hello"}],
        }
    }
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": params})
    without_version = {"A2A-Version": ""}  # left out: 0.3 clients send none
    ours = services["architect"].post(body, **without_version)
    assert ours["result"]["kind"] == "task"
    assert ours["result"]["status"]["state"] == "completed"
    assert outcome(echo.post(body, **without_version)) == ("error", METHOD_NOT_FOUND)
