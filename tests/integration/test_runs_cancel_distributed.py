"""Cancelling a run through the runs API in the distributed mesh stops its work on every hop:
the gateway cancels its call, and each service's A2A cancel reaches the next, down to the
analysts' sandbox job."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from aether.config import Role
from aether.observability.runner import TracingRunner
from aether.sandbox.jobs import AnalysisJob, JobOutcome
from tests.a2a_harness import DistributedMesh, RunningService, running_mesh, running_service

QUESTION = "How much energy did I use last week, and what is my baseload?"
EVERY_HOP = {"architect", "ds-orchestrator", "ds-analysts"}
SLOW_JOB_SECONDS = 30.0


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributedMesh]:
    with running_mesh(tmp_path_factory.mktemp("mesh")) as running:
        yield running


@pytest.fixture(scope="module")
def gateway(
    mesh: DistributedMesh, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    with running_service(
        Role.GATEWAY, tmp_path_factory.mktemp("gateway"), deployment_mode="distributed", **mesh.urls
    ) as running:
        yield running


def cancelled_services(caplog: pytest.LogCaptureFixture) -> set[str]:
    """Services whose executor cancelled a running task (`<service> task <id> cancelled`)."""
    messages = [record.getMessage() for record in caplog.records]
    return {message.split()[0] for message in messages if message.endswith(" cancelled")}


@pytest.fixture
def slow_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every analysis job first waits: the run is surely in the sandbox when it is cancelled.
    (The services run in this process, so patching the runner reaches the analysts'.)"""
    run = TracingRunner.run

    async def slow(self: TracingRunner, job: AnalysisJob) -> JobOutcome:
        await asyncio.sleep(SLOW_JOB_SECONDS)
        return await run(self, job)

    monkeypatch.setattr(TracingRunner, "run", slow)


def test_cancelling_a_run_stops_it_in_every_service(
    gateway: RunningService, caplog: pytest.LogCaptureFixture, slow_jobs: None
) -> None:
    caplog.set_level(logging.INFO, logger="aether.mesh")
    started = time.monotonic()
    body = {"model": "aether", "messages": [{"role": "user", "content": QUESTION}], "stream": True}
    lines: list[str] = []
    in_sandbox = threading.Event()
    run_id: list[str] = []

    def chat() -> None:
        with (
            gateway.http() as http,
            http.stream("POST", "/api/v1/chat/completions", json=body) as r,
        ):
            run_id.append(r.headers["x-run-id"])
            for line in r.iter_lines():
                lines.append(line)
                if "sandbox" in line:
                    in_sandbox.set()
        in_sandbox.set()

    reader = threading.Thread(target=chat, daemon=True)
    reader.start()
    assert in_sandbox.wait(60), "the analysis never started"
    with gateway.http() as http:
        response = http.post(f"/api/v1/runs/{run_id[0]}/cancel")
    reader.join(30)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert any("run_cancelled" in line for line in lines)
    deadline = time.monotonic() + 10
    while cancelled_services(caplog) != EVERY_HOP and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cancelled_services(caplog) == EVERY_HOP
    assert time.monotonic() - started < SLOW_JOB_SECONDS
