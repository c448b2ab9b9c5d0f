"""The gateway in distributed mode: every agent call crosses A2A, and nothing is lost on the way."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from aether.config import Role
from aether.store import Run, RunStatus, Store, create_engine
from tests.a2a_harness import DistributedMesh, RunningService, running_mesh, running_service
from tests.integration.test_a2a_services import job_processes

QUESTION = "How much energy did I use last week, and what is my baseload?"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributedMesh]:
    with running_mesh(tmp_path_factory.mktemp("mesh")) as running:
        yield running


@pytest.fixture(scope="module")
def gateway(
    mesh: DistributedMesh, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    with running_service(
        Role.GATEWAY,
        tmp_path_factory.mktemp("gateway"),
        deployment_mode="distributed",
        **mesh.urls,
    ) as running:
        yield running


def chat_client(gateway: RunningService) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/api/v1", api_key="unused", max_retries=0)


def stored_messages(gateway: RunningService, conversation_id: str) -> list[dict[str, Any]]:
    with gateway.http() as http:
        messages: list[dict[str, Any]] = http.get(
            f"/api/v1/conversations/{conversation_id}"
        ).json()["messages"]
    return messages


async def stored_run(gateway: RunningService, run_id: str) -> Run:
    store = Store(create_engine(gateway.settings.effective_database_url))
    try:
        run = await store.runs.get(run_id)
    finally:
        await store.close()
    assert run is not None
    return run


def test_a_chat_completion_is_answered_through_a2a(gateway: RunningService) -> None:
    completion = chat_client(gateway).chat.completions.create(
        model="aether", messages=[{"role": "user", "content": QUESTION}]
    )
    answer = completion.choices[0].message.content or ""
    assert re.search(r"\d[\d,.]* kWh", answer), answer
    assert re.search(r"\d[\d,.]* W\b", answer), answer
    assert completion.choices[0].finish_reason == "stop"
    with gateway.http() as http:
        health = http.get("/health").json()
    assert (health["mode"], health["sandbox"]) == ("distributed", "remote")


def test_progress_streams_through_every_hop_as_it_happens(gateway: RunningService) -> None:
    stream = chat_client(gateway).chat.completions.create(
        model="aether", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    arrivals: list[tuple[float, str, str]] = []
    for chunk in stream:
        delta = chunk.choices[0].delta
        reasoning = getattr(delta, "reasoning_content", None) or ""
        arrivals.append((time.monotonic(), reasoning, delta.content or ""))
    progress = "".join(reasoning for _, reasoning, _ in arrivals)
    for hop in ("[architect]", "[ds-orchestrator]", "[energy-analyst]"):
        assert hop in progress
    assert "sandbox" in progress
    first_progress = min(t for t, reasoning, _ in arrivals if reasoning)
    first_answer = min(t for t, _, content in arrivals if content)
    answer = "".join(content for _, _, content in arrivals)
    assert "kWh" in answer
    # The analysis job alone takes a good part of a second: progress that was buffered until
    # the end would arrive together with the answer.
    assert first_answer - first_progress > 0.2


def test_an_explicit_agent_goes_straight_to_its_service(gateway: RunningService) -> None:
    completion = chat_client(gateway).chat.completions.create(
        model="aether-diagnostic-analyst",
        messages=[{"role": "user", "content": "Are any of my sensors broken?"}],
    )
    assert completion.choices[0].message.content


def test_a_service_that_dies_mid_stream_gives_an_error_frame_and_a_failed_run(
    tmp_path: Path,
) -> None:
    with (
        running_mesh(tmp_path / "mesh") as mesh,
        running_service(
            Role.GATEWAY, tmp_path / "gateway", deployment_mode="distributed", **mesh.urls
        ) as gateway,
    ):
        raw = chat_client(gateway).chat.completions.with_raw_response.create(
            model="aether",
            messages=[{"role": "user", "content": QUESTION}],
            stream=True,
            timeout=60,
        )
        conversation_id, run_id = raw.headers["x-conversation-id"], raw.headers["x-run-id"]
        started = time.monotonic()

        def read_and_kill_the_analysts_midway() -> None:
            for chunk in raw.parse():
                reasoning = getattr(chunk.choices[0].delta, "reasoning_content", None) or ""
                if "sandbox" in reasoning:
                    mesh.analysts.stop(force=True)

        with pytest.raises(openai.APIError) as raised:
            read_and_kill_the_analysts_midway()
        assert time.monotonic() - started < 30
        # Dropped connection or a stream cut short: either way the analyst is unavailable.
        assert raised.value.code == "agent_unavailable"
        assert "energy-analyst" in str(raised.value)
        user, assistant = stored_messages(gateway, conversation_id)
        run = asyncio.run(stored_run(gateway, run_id))
    assert user["content"] == QUESTION
    assert assistant["status"] == "failed"
    assert assistant["error"]
    assert run.status is RunStatus.FAILED
    assert run.error


def test_a_client_that_disconnects_stops_the_analysis_on_every_hop(
    mesh: DistributedMesh, gateway: RunningService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aether.mesh")
    data_dir = mesh.analysts.settings.aether_data_dir.resolve()
    body = {"model": "aether", "messages": [{"role": "user", "content": QUESTION}], "stream": True}
    with gateway.http() as http, http.stream("POST", "/api/v1/chat/completions", json=body) as sse:
        for line in sse.iter_lines():
            if "sandbox" in line:
                assert job_processes(data_dir), "the analysis job should be running"
                break  # the chat client goes away mid-analysis
    every_hop = {"architect", "ds-orchestrator", "ds-analysts"}
    deadline = time.monotonic() + 10
    while cancelled_services(caplog) != every_hop and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cancelled_services(caplog) == every_hop
    assert job_processes(data_dir) == []
    assert list((data_dir / "sandbox").iterdir()) == []


def cancelled_services(caplog: pytest.LogCaptureFixture) -> set[str]:
    """Services whose executor cancelled a running task (`<service> task <id> cancelled`)."""
    messages = [record.getMessage() for record in caplog.records]
    return {message.split()[0] for message in messages if message.endswith(" cancelled")}
