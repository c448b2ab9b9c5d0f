"""The LLM path: routing and answers written by an OpenAI-compatible endpoint (a real fake server),
and the fallback to keyword routing and the offline writer when that endpoint fails."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import (
    Failure,
    FakeOpenAI,
    RecordedRequest,
    Reply,
    running_fake_openai,
)
from tests.gateway_harness import RunningGateway, running_gateway

QUESTION = "How much energy did I use last week, and what is my baseload?"
LLM_ANSWER = "Last week you used a fair amount of energy; your baseload is moderate."


def respond(request: RecordedRequest) -> Reply:
    if request.body.get("response_format"):
        route = {"agent": "architect", "reason": "an energy question", "confidence": 0.9}
        return Reply(json.dumps(route), prompt_tokens=50, completion_tokens=20)
    return Reply(LLM_ANSWER, prompt_tokens=400, completion_tokens=15)


@pytest.fixture
def fake() -> FakeOpenAI:
    return FakeOpenAI(responder=respond, api_key="llm-key")


@pytest.fixture
def gateway(fake: FakeOpenAI, tmp_path: Path) -> Iterator[RunningGateway]:
    with (
        running_fake_openai(fake) as llm_url,
        running_gateway(
            tmp_path, llm_base_url=llm_url, llm_api_key="llm-key", llm_model="fake-model"
        ) as running,
    ):
        yield running


def test_llm_routes_and_writes_the_answer_from_real_findings(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    completion = gateway.openai().chat.completions.create(
        model="aether", messages=[{"role": "user", "content": QUESTION}]
    )
    answer = completion.choices[0].message.content or ""
    narration, downloads = answer.split("\n\n", 1)
    assert narration == LLM_ANSWER
    assert downloads.startswith("Charts and tables: [")  # appended to the model's text
    assert "(/api/v1/artifacts/" in downloads
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (450, 35)
    routing, writing = fake.requests
    assert routing.body["response_format"] == {"type": "json_object"}
    assert writing.stream
    assert writing.authorization == "Bearer llm-key"
    context = "\n".join(m["content"] for m in writing.messages if m["role"] == "system")
    assert "kWh" in context  # the findings travel to the LLM, which only narrates them
    assert writing.last_user_message == QUESTION


def test_streamed_llm_answer_and_routing_reason(gateway: RunningGateway) -> None:
    stream = gateway.openai().chat.completions.create(
        model="aether", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    content, reasoning = [], []
    for chunk in stream:
        delta = chunk.choices[0].delta
        content.append(delta.content or "")
        reasoning.append(getattr(delta, "reasoning_content", None) or "")
    assert "".join(content).split("\n\nCharts and tables: ")[0] == LLM_ANSWER
    assert "LLM: an energy question" in "".join(reasoning)
    with gateway.http() as http:
        assert http.get("/health").json()["llm"].endswith("(fake-model)")


def test_failing_llm_falls_back_to_keywords_and_the_offline_writer(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    fake.fail_next(Failure.http(400, "model overloaded"), times=2)
    completion = gateway.openai().chat.completions.create(
        model="aether", messages=[{"role": "user", "content": QUESTION}]
    )
    answer = completion.choices[0].message.content or ""
    assert "kWh" in answer
    assert LLM_ANSWER not in answer
