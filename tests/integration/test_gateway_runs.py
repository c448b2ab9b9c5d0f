"""A run's record, findings and event log, read back after (and while) it happens."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.gateway_harness import RunningGateway, running_gateway
from tests.sse import sse_events

QUESTION = "How much energy did I use last week, and what is my baseload?"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(tmp_path_factory.mktemp("runs")) as running:
        yield running


@pytest.fixture(scope="module")
def run_id(gateway: RunningGateway) -> str:
    raw = gateway.openai().chat.completions.with_raw_response.create(
        model="aether", messages=[{"role": "user", "content": QUESTION}]
    )
    return raw.headers["x-run-id"]


def test_run_has_status_routing_usage_and_findings(gateway: RunningGateway, run_id: str) -> None:
    with gateway.http() as http:
        run = http.get(f"/api/v1/runs/{run_id}").json()
    assert run["status"] == "completed"
    assert run["agent"] == "architect"
    assert run["routing_reason"]
    assert run["completion_tokens"] > 0
    assert run["duration_seconds"] > 0
    kinds = {finding["kind"] for finding in run["findings"]}
    assert {"consumption_total", "baseload"} <= kinds
    units = {m["unit"] for f in run["findings"] for m in f["metrics"]}
    assert {"kWh", "W"} <= units


def test_event_log_pages_with_a_cursor(gateway: RunningGateway, run_id: str) -> None:
    with gateway.http() as http:
        first = http.get(f"/api/v1/runs/{run_id}/events", params={"limit": 3}).json()
        assert first["has_more"]
        assert first["data"][0]["type"] == "status"
        assert first["data"][0]["payload"]["stage"] == "routing"
        cursor = first["data"][-1]["id"]
        rest = http.get(f"/api/v1/runs/{run_id}/events", params={"after": cursor}).json()
    seqs = [e["seq"] for e in first["data"] + rest["data"]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert rest["data"][-1]["type"] == "final"


def test_event_stream_replays_and_resumes_after_last_event_id(
    gateway: RunningGateway, run_id: str
) -> None:
    url = f"/api/v1/runs/{run_id}/events/stream"
    with gateway.http() as http, http.stream("GET", url) as response:
        everything = sse_events(response.iter_lines())
    assert everything[-1]["event"] == "end"
    assert json.loads(everything[-1]["data"]) == {"status": "completed"}
    recorded = everything[:-1]
    middle = recorded[len(recorded) // 2]["id"]
    with (
        gateway.http() as http,
        http.stream("GET", url, headers={"Last-Event-ID": middle}) as response,
    ):
        resumed = sse_events(response.iter_lines())[:-1]
    assert [e["id"] for e in resumed] == [e["id"] for e in recorded if int(e["id"]) > int(middle)]


def test_unknown_run_is_404(gateway: RunningGateway) -> None:
    with gateway.http() as http:
        response = http.get("/api/v1/runs/does-not-exist")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "run_not_found"
