"""The public chat API through the official openai SDK, against a real gateway on loopback."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.gateway_harness import RunningGateway, running_gateway

QUESTION = "How much energy did I use last week, and what is my baseload?"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(tmp_path_factory.mktemp("gateway")) as running:
        yield running


def test_models_list_the_agents(gateway: RunningGateway) -> None:
    client = gateway.openai()
    ids = {model.id for model in client.models.list()}
    assert {"aether", "aether-architect", "aether-ds-orchestrator"} <= ids
    assert {"aether-energy-analyst", "aether-behavioral-analyst"} <= ids
    assert client.models.retrieve("aether-diagnostic-analyst").id == "aether-diagnostic-analyst"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("aether-plumber")


def test_answer_has_kwh_and_watt_figures_from_the_demo_household(gateway: RunningGateway) -> None:
    raw = gateway.openai().chat.completions.with_raw_response.create(
        model="aether", messages=[{"role": "user", "content": QUESTION}]
    )
    completion = raw.parse()
    answer = completion.choices[0].message.content or ""
    assert re.search(r"\d[\d,.]* kWh", answer), answer
    assert re.search(r"\d[\d,.]* W\b", answer), answer
    assert "last week" in answer.lower()
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.completion_tokens > 20
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    assert raw.headers["x-conversation-id"]


def test_streaming_chunks_join_into_the_stored_answer(gateway: RunningGateway) -> None:
    client = gateway.openai()
    raw = client.chat.completions.with_raw_response.create(
        model="aether",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    conversation_id = raw.headers["x-conversation-id"]
    content, reasoning, finish, usage = [], [], [], []
    for chunk in raw.parse():
        if chunk.usage is not None:
            assert chunk.choices == []
            usage.append(chunk.usage)
            continue
        assert len(chunk.choices) == 1
        delta = chunk.choices[0].delta
        content.append(delta.content or "")
        reasoning.append(getattr(delta, "reasoning_content", None) or "")
        finish.append(chunk.choices[0].finish_reason)
    answer = "".join(content)
    assert "kWh" in answer
    progress = "".join(reasoning)
    assert "Routing to the architect" in progress
    assert "sandbox" in progress
    assert finish[-1] == "stop"
    assert len(usage) == 1
    assert usage[0].completion_tokens > 20
    with gateway.http() as http:
        stored = http.get(f"/api/v1/conversations/{conversation_id}").json()
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]
    assert stored["messages"][1]["content"] == answer
    assert stored["messages"][1]["status"] == "complete"


def test_stream_ends_with_done(gateway: RunningGateway) -> None:
    body = {"model": "aether", "messages": [{"role": "user", "content": "hello"}], "stream": True}
    with gateway.http() as http:
        response = http.post("/api/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert frames[-1] == "[DONE]"
    for frame in frames[:-1]:
        chunk = json.loads(frame)
        assert chunk["object"] == "chat.completion.chunk"
        assert len(chunk["choices"]) == 1


def test_explicit_agent_selects_the_analyst(gateway: RunningGateway) -> None:
    client = gateway.openai()
    completion = client.chat.completions.create(
        model="aether-diagnostic-analyst",
        messages=[{"role": "user", "content": "Check my sensors over the last 30 days"}],
    )
    answer = completion.choices[0].message.content or ""
    assert "outdoor_temperature" in answer or "Outdoor temperature" in answer


def test_max_tokens_cuts_the_answer(gateway: RunningGateway) -> None:
    completion = gateway.openai().chat.completions.create(
        model="aether", messages=[{"role": "user", "content": QUESTION}], max_tokens=12
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens <= 12


def test_health_and_ready(gateway: RunningGateway) -> None:
    with gateway.http() as http:
        health = http.get("/health").json()
        ready = http.get("/ready")
    assert health["status"] == "ok"
    assert health["mode"] == "monolith"
    assert health["llm"] == "offline"
    assert health["sandbox"]
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


def test_conversation_continues_and_is_deleted(gateway: RunningGateway) -> None:
    client = gateway.openai()
    first = client.chat.completions.with_raw_response.create(
        model="aether", messages=[{"role": "user", "content": "hello"}]
    )
    conversation_id = first.headers["x-conversation-id"]
    client.chat.completions.create(
        model="aether",
        messages=[{"role": "user", "content": "What can you do?"}],
        extra_body={"conversation_id": conversation_id},
    )
    with gateway.http() as http:
        stored = http.get(f"/api/v1/conversations/{conversation_id}").json()
        assert [m["role"] for m in stored["messages"]] == ["user", "assistant"] * 2
        listed = http.get("/api/v1/conversations", params={"limit": 100}).json()
        assert conversation_id in {c["id"] for c in listed["data"]}
        assert listed["total"] >= 1
        assert http.delete(f"/api/v1/conversations/{conversation_id}").json()["deleted"]
        missing = http.get(f"/api/v1/conversations/{conversation_id}")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "conversation_not_found"


def test_conversation_survives_a_restart(tmp_path: Path) -> None:
    with running_gateway(tmp_path) as first:
        raw = first.openai().chat.completions.with_raw_response.create(
            model="aether", messages=[{"role": "user", "content": "hello"}]
        )
        conversation_id = raw.headers["x-conversation-id"]
    with running_gateway(tmp_path) as second, second.http() as http:
        stored = http.get(f"/api/v1/conversations/{conversation_id}").json()
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]
