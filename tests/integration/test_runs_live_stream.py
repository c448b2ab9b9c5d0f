"""Following a run live: its events arrive as they happen, a client that drops and reconnects
with `Last-Event-ID` gets every event exactly once, and a quiet stream carries keep-alives."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aether.gateway import api_runs
from tests.fakes.openai_server import FakeOpenAI, RecordedRequest, Reply, running_fake_openai
from tests.gateway_harness import RunningGateway, running_gateway
from tests.sse import sse_frames

QUESTION = "How much energy did I use last week?"
ROUTING_SECONDS = 0.5
WRITING_SECONDS = 2.5
"""The LLM is slow, so the run lasts seconds: routing, then the analysis, then the answer."""
PING_SECONDS = 0.2


def respond(request: RecordedRequest) -> Reply:
    if request.body.get("response_format"):
        route = {"agent": "architect", "reason": "an energy question", "confidence": 0.9}
        return Reply(json.dumps(route), delay_seconds=ROUTING_SECONDS)
    return Reply("Your week, in short.", delay_seconds=WRITING_SECONDS)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    data_dir: Path = tmp_path_factory.mktemp("live")
    with (
        running_fake_openai(FakeOpenAI(responder=respond)) as llm_url,
        running_gateway(data_dir, llm_base_url=llm_url, llm_model="fake-model") as running,
    ):
        yield running


@pytest.fixture
def fast_pings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_runs, "PING_SECONDS", PING_SECONDS)


def start_run(gateway: RunningGateway) -> tuple[str, threading.Thread]:
    """A streaming chat, read to its end in a thread; returns its run id at once."""
    body = {"model": "aether", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    run_id: list[str] = []
    started = threading.Event()

    def read() -> None:
        with (
            gateway.http() as http,
            http.stream("POST", "/api/v1/chat/completions", json=body) as r,
        ):
            run_id.append(r.headers["x-run-id"])
            started.set()
            for _ in r.iter_lines():
                pass

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    assert started.wait(30)
    return run_id[0], thread


def test_a_client_that_reconnects_with_last_event_id_gets_every_event_once(
    gateway: RunningGateway,
) -> None:
    run_id, chat = start_run(gateway)
    url = f"/api/v1/runs/{run_id}/events/stream"
    first: list[dict[str, Any]] = []
    with gateway.http() as http:
        with http.stream("GET", url) as live:
            for frame in sse_frames(live.iter_lines()):
                if "id" in frame:
                    first.append(frame)
                if len(first) == 2:
                    break  # the client drops mid-run
        status_at_drop = http.get(f"/api/v1/runs/{run_id}").json()["status"]
        resumed: list[dict[str, Any]] = []
        with http.stream("GET", url, headers={"Last-Event-ID": first[-1]["id"]}) as live:
            resumed = [frame for frame in sse_frames(live.iter_lines()) if "data" in frame]
        recorded = http.get(f"/api/v1/runs/{run_id}/events", params={"limit": 1000}).json()
    chat.join(30)
    assert status_at_drop == "running"
    assert resumed[-1]["event"] == "end"
    assert json.loads(resumed[-1]["data"]) == {"status": "completed"}
    received = [int(frame["id"]) for frame in first + resumed[:-1]]
    assert received == [event["id"] for event in recorded["data"]]
    assert len(set(received)) == len(received)
    assert [frame["event"] for frame in first + resumed[:-1]] == [
        event["type"] for event in recorded["data"]
    ]
    assert recorded["data"][-1]["type"] == "final"


def test_a_quiet_stream_carries_keep_alive_comments(
    gateway: RunningGateway, fast_pings: None
) -> None:
    run_id, chat = start_run(gateway)
    with (
        httpx.Client(base_url=gateway.base_url, timeout=30) as http,
        http.stream("GET", f"/api/v1/runs/{run_id}/events/stream") as live,
    ):
        seen = list(sse_frames(live.iter_lines()))
    chat.join(30)
    assert any("comment" in frame for frame in seen)
    assert seen[-1]["event"] == "end"
