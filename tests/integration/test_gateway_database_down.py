"""PostgreSQL going away under a running gateway: 503s with Retry-After and a clear error, never a
500; a run in flight ends with an error frame and is stored once the database is back; and the
gateway recovers on its own, without a restart.

The gateway reaches PostgreSQL through a TCP proxy that the test cuts and restores.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url

from tests.fakes.openai_server import FakeOpenAI, Reply, running_fake_openai
from tests.fakes.tcp_proxy import TcpProxy, running_tcp_proxy
from tests.gateway_harness import RunningGateway, running_gateway
from tests.integration.conftest import PostgresServer, _postgres_server
from tests.sse import sse_events, sse_frames

pytestmark = pytest.mark.postgres

BODY: dict[str, Any] = {
    "model": "aether-architect",
    "messages": [{"role": "user", "content": "hi"}],
}


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = _postgres_server()
    yield server
    server.drop_all()


@pytest.fixture
def proxied_database_url(postgres: PostgresServer) -> Iterator[tuple[str, TcpProxy]]:
    """A fresh database, and its URL through a proxy the test can cut."""
    url = make_url(asyncio.run(postgres.create_database()))
    with running_tcp_proxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port)
        yield proxied.render_as_string(hide_password=False), proxy


def chat(gateway: RunningGateway, *, stream: bool = False) -> httpx.Response:
    with (
        gateway.http() as http,
        http.stream("POST", "/api/v1/chat/completions", json={**BODY, "stream": stream}) as answer,
    ):
        answer.read()
    return answer


def assert_database_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("service_unavailable", "database_unavailable")
    assert "database" in error["message"]


def test_requests_get_503s_while_the_database_is_away_and_succeed_once_it_is_back(
    tmp_path: Path, proxied_database_url: tuple[str, TcpProxy]
) -> None:
    database_url, proxy = proxied_database_url
    with (
        running_gateway(tmp_path, database_url=database_url) as gateway,
        gateway.http() as http,
    ):
        before = chat(gateway)
        assert before.status_code == 200

        proxy.cut()
        during = {
            "chat": chat(gateway),
            "streamed chat": chat(gateway, stream=True),
            "conversations": http.get("/api/v1/conversations"),
            "runs": http.get("/api/v1/runs"),
            "run": http.get(f"/api/v1/runs/{before.headers['x-run-id']}"),
        }
        not_ready, alive = http.get("/ready"), http.get("/health")

        proxy.restore()
        ready = http.get("/ready")
        after = chat(gateway)
        conversations = http.get("/api/v1/conversations").json()["data"]

    for response in during.values():
        assert_database_unavailable(response)
    assert (not_ready.status_code, alive.status_code) == (503, 200)
    assert not_ready.json()["checks"]["database"].startswith("error:")
    assert ready.status_code == 200, ready.text
    assert after.status_code == 200, after.text
    assert {c["id"] for c in conversations} == {
        before.headers["x-conversation-id"],
        after.headers["x-conversation-id"],
    }


def test_a_run_in_flight_when_the_database_goes_away_is_stored_when_it_is_back(
    tmp_path: Path, proxied_database_url: tuple[str, TcpProxy]
) -> None:
    database_url, proxy = proxied_database_url
    answer = "Your baseload is 240 W."
    fake = FakeOpenAI(responder=lambda _: Reply(answer, delay_seconds=2))
    with (
        running_fake_openai(fake) as llm_url,
        running_gateway(tmp_path, database_url=database_url, llm_base_url=llm_url) as gateway,
        gateway.http() as http,
    ):
        frames: list[dict[str, Any]] = []
        with http.stream(
            "POST", "/api/v1/chat/completions", json={**BODY, "stream": True}
        ) as response:
            run_id = response.headers["x-run-id"]
            for line in response.iter_lines():
                if not line.startswith("data: {"):
                    continue
                frames.append(json.loads(line.removeprefix("data: ")))
                reasoning = str(frames[-1].get("choices", [{}])[0].get("delta", {}))
                if "Writing the answer" in reasoning:
                    proxy.cut()  # the LLM is writing; the database goes away
        proxy.restore()
        deadline = time.monotonic() + 30
        while (run := http.get(f"/api/v1/runs/{run_id}").json())["status"] == "running":
            assert time.monotonic() < deadline, run
            time.sleep(0.2)
        (conversation,) = http.get("/api/v1/conversations").json()["data"]
        messages = http.get(f"/api/v1/conversations/{conversation['id']}").json()["messages"]
        still_serving = chat(gateway)

    streamed = "".join(
        f["choices"][0]["delta"].get("content") or "" for f in frames if f.get("choices")
    )
    assert streamed == answer
    assert frames[-1]["error"]["code"] == "database_unavailable"
    assert (run["status"], run["error"]) == (
        "failed",
        "The database became unavailable during the run.",
    )
    assert [(m["role"], m["status"], m["content"]) for m in messages] == [
        ("user", "complete", "hi"),
        ("assistant", "failed", answer),
    ]
    assert still_serving.status_code == 200


def test_a_run_followed_live_says_when_the_database_went_away_and_resumes_once_it_is_back(
    tmp_path: Path, proxied_database_url: tuple[str, TcpProxy]
) -> None:
    database_url, proxy = proxied_database_url
    fake = FakeOpenAI(responder=lambda _: Reply("Your baseload is 240 W.", delay_seconds=2))
    with (
        running_fake_openai(fake) as llm_url,
        running_gateway(tmp_path, database_url=database_url, llm_base_url=llm_url) as gateway,
        gateway.http() as http,
    ):
        chatting = threading.Thread(target=chat, args=(gateway,), kwargs={"stream": True})
        chatting.start()
        deadline = time.monotonic() + 30
        while not (runs := http.get("/api/v1/runs").json()["data"]):
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.1)
        url = f"/api/v1/runs/{runs[0]['id']}/events/stream"
        before: list[dict[str, Any]] = []
        with http.stream("GET", url) as live:
            for frame in sse_frames(live.iter_lines()):
                before.append(frame)
                if len(before) == 1:
                    proxy.cut()  # the stream has started; the database goes away
        proxy.restore()
        chatting.join(60)
        *events, error = before
        with http.stream("GET", url, headers={"Last-Event-ID": events[-1]["id"]}) as live:
            after = sse_events(live.iter_lines())
        recorded = http.get(f"/api/v1/runs/{runs[0]['id']}/events").json()["data"]

    assert error["event"] == "error"
    assert json.loads(error["data"])["error"]["code"] == "database_unavailable"
    assert int(error["retry"]) > 0  # EventSource clients reconnect after this many ms
    assert after[-1]["event"] == "end"
    received = [int(frame["id"]) for frame in [*events, *after[:-1]]]
    assert received == [event["id"] for event in recorded]
