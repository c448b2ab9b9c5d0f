"""The runs API beyond one run's record: listing with filters and pages, cancelling a run in
flight (on this replica and through another one sharing the database), and feedback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAI, RecordedRequest, Reply, running_fake_openai
from tests.gateway_harness import RunningGateway, running_gateway

QUESTION = "How much energy did I use last week?"
SLOW_ANSWER_SECONDS = 30.0
"""The LLM writing the answer takes this long: a run stays in flight until it is cancelled."""


def respond(request: RecordedRequest) -> Reply:
    if request.body.get("response_format"):  # routing: quick
        route = {"agent": "architect", "reason": "an energy question", "confidence": 0.9}
        return Reply(json.dumps(route), prompt_tokens=50, completion_tokens=20)
    if "slow" in request.last_user_message:
        return Reply("too late", delay_seconds=SLOW_ANSWER_SECONDS)
    return Reply("Here is your answer.", prompt_tokens=100, completion_tokens=5)


@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    with running_fake_openai(FakeOpenAI(responder=respond)) as url:
        yield url


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs-api")


@pytest.fixture(scope="module")
def gateway(llm_url: str, data_dir: Path) -> Iterator[RunningGateway]:
    with running_gateway(data_dir, llm_base_url=llm_url, llm_model="fake-model") as running:
        yield running


@pytest.fixture(scope="module")
def replica(llm_url: str, data_dir: Path, gateway: RunningGateway) -> Iterator[RunningGateway]:
    """A second gateway on the same database, as a second replica behind a load balancer."""
    with running_gateway(data_dir, llm_base_url=llm_url, llm_model="fake-model") as running:
        yield running


def chat(gateway: RunningGateway, question: str, **extra: Any) -> tuple[str, str]:
    """(conversation id, run id) of a completed non-streaming chat."""
    body = {"model": "aether", "messages": [{"role": "user", "content": question}], **extra}
    with gateway.http() as http:
        response = http.post("/api/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response.headers["x-conversation-id"], response.headers["x-run-id"]


class SlowChat:
    """A streaming chat whose run waits on the slow LLM, read in a thread until it ends."""

    def __init__(self, gateway: RunningGateway) -> None:
        self.run_id: str | None = None
        self.frames: list[str] = []
        self.started = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(gateway,), daemon=True)
        self._thread.start()
        assert self.started.wait(30), "the chat did not start"

    def _read(self, gateway: RunningGateway) -> None:
        body = {
            "model": "aether",
            "stream": True,
            "messages": [{"role": "user", "content": f"{QUESTION} (slow)"}],
        }
        with (
            gateway.http() as http,
            http.stream("POST", "/api/v1/chat/completions", json=body) as sse,
        ):
            self.run_id = sse.headers["x-run-id"]
            for line in sse.iter_lines():
                if line.startswith("data:"):
                    self.frames.append(line.removeprefix("data:").strip())
                if "Writing the answer" in line:
                    self.started.set()  # the run now waits on the LLM
        self.started.set()

    def join(self) -> None:
        self._thread.join(30)
        assert not self._thread.is_alive(), "the chat stream did not end"


def test_runs_list_newest_first_with_filters_and_pages(gateway: RunningGateway) -> None:
    conversation, first = chat(gateway, "hello")
    _, second = chat(gateway, "hello again", conversation_id=conversation)
    _, other = chat(gateway, QUESTION)
    with gateway.http() as http:
        everything = http.get("/api/v1/runs", params={"limit": 100}).json()
        mine = http.get("/api/v1/runs", params={"conversation_id": conversation}).json()
        page = http.get(
            "/api/v1/runs", params={"conversation_id": conversation, "limit": 1, "offset": 1}
        ).json()
        completed = http.get("/api/v1/runs", params={"status": "completed", "limit": 100}).json()
        by_agent = http.get("/api/v1/runs", params={"agent": "architect", "limit": 100}).json()
        failed = http.get("/api/v1/runs", params={"status": "failed"}).json()
        invalid = http.get("/api/v1/runs", params={"status": "sleeping"})
    ids = [run["id"] for run in everything["data"]]
    assert ids.index(other) < ids.index(second) < ids.index(first)
    assert [run["id"] for run in mine["data"]] == [second, first]
    assert mine["total"] == 2
    assert [run["id"] for run in page["data"]] == [first]
    assert (page["total"], page["limit"], page["offset"]) == (2, 1, 1)
    assert {first, second, other} <= {run["id"] for run in completed["data"]}
    assert all(run["agent"] == "architect" for run in by_agent["data"])
    assert other in {run["id"] for run in by_agent["data"]}
    assert failed == {"object": "list", "data": [], "total": 0, "limit": 20, "offset": 0}
    assert invalid.status_code == 400
    assert "findings" not in everything["data"][0]


def test_cancel_stops_a_running_run_and_ends_its_stream(gateway: RunningGateway) -> None:
    slow = SlowChat(gateway)
    started = time.monotonic()
    with gateway.http() as http:
        response = http.post(f"/api/v1/runs/{slow.run_id}/cancel")
        slow.join()
        events = http.get(f"/api/v1/runs/{slow.run_id}/events", params={"limit": 1000}).json()
        again = http.post(f"/api/v1/runs/{slow.run_id}/cancel")
    assert time.monotonic() - started < SLOW_ANSWER_SECONDS / 2
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "cancelled"
    assert run["error"] == "cancelled through the runs API"
    assert "cancel_requested" in [event["type"] for event in events["data"]]
    error = json.loads(next(frame for frame in slow.frames if '"error"' in frame))["error"]
    assert error["code"] == "run_cancelled"
    assert slow.frames[-1] != "[DONE]"
    assert again.status_code == 200  # cancelling a cancelled run changes nothing
    assert again.json()["status"] == "cancelled"


def test_a_cancel_that_reaches_another_replica_stops_the_run(
    gateway: RunningGateway, replica: RunningGateway
) -> None:
    slow = SlowChat(gateway)
    with replica.http() as http:
        response = http.post(f"/api/v1/runs/{slow.run_id}/cancel")
    slow.join()
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["error"] == "cancelled through another gateway replica"


def test_only_running_runs_can_be_cancelled(gateway: RunningGateway) -> None:
    _, run_id = chat(gateway, "hello")
    with gateway.http() as http:
        finished = http.post(f"/api/v1/runs/{run_id}/cancel")
        unknown = http.post("/api/v1/runs/nope/cancel")
    assert finished.status_code == 409
    assert finished.json()["error"]["code"] == "run_not_running"
    assert unknown.status_code == 404


def test_feedback_is_stored_for_a_run(gateway: RunningGateway) -> None:
    _, run_id = chat(gateway, "hello")
    with gateway.http() as http:
        up = http.post(
            "/api/v1/feedback", json={"run_id": run_id, "rating": "up", "comment": " Spot on. "}
        )
        down = http.post("/api/v1/feedback", json={"run_id": run_id, "rating": "down"})
        unknown = http.post("/api/v1/feedback", json={"run_id": "nope", "rating": "up"})
        invalid = http.post("/api/v1/feedback", json={"run_id": run_id, "rating": "meh"})
    assert up.status_code == 201, up.text
    assert up.json() | {"id": None, "created_at": None} == {
        "id": None,
        "object": "feedback",
        "run_id": run_id,
        "rating": "up",
        "comment": "Spot on.",
        "trace_id": None,
        "created_at": None,
    }
    assert down.json()["comment"] is None
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "run_not_found"
    assert invalid.status_code == 400


def test_metrics_count_requests_by_route_and_runs_by_status(gateway: RunningGateway) -> None:
    chat(gateway, "hello")
    text = httpx.get(f"{gateway.base_url}/metrics").text
    assert (
        'aether_http_requests_total{method="POST",route="/api/v1/chat/completions",'
        'service="gateway",status="200"}'
    ) in text
    assert 'aether_runs_total{service="gateway",status="completed"}' in text
    assert 'aether_llm_tokens_total{kind="prompt",model="fake-model",service="gateway"}' in text
    assert 'aether_sandbox_jobs_total{analyst="energy"' in text
