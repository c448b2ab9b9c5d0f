"""Failures after a request was accepted: the client is told, and nothing accepted is lost."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from tests.fakes.openai_server import FakeOpenAI, Reply, running_fake_openai
from tests.gateway_harness import RunningGateway, running_gateway

QUESTION = "How much energy did I use last week?"


def stored_messages(gateway: RunningGateway, conversation_id: str) -> list[dict[str, Any]]:
    with gateway.http() as http:
        response = http.get(f"/api/v1/conversations/{conversation_id}")
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def only_conversation(gateway: RunningGateway) -> str:
    with gateway.http() as http:
        (conversation,) = http.get("/api/v1/conversations").json()["data"]
    conversation_id: str = conversation["id"]
    return conversation_id


def collect_content(stream: Iterable[ChatCompletionChunk], into: list[str]) -> None:
    for chunk in stream:
        into.append(chunk.choices[0].delta.content or "")


def test_failed_analysis_is_an_error_frame_and_a_failed_message(tmp_path: Path) -> None:
    with running_gateway(tmp_path, analysis_timeout_seconds=0.01) as gateway:
        stream = gateway.openai().chat.completions.create(
            model="aether", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
        with pytest.raises(openai.APIError, match=r"time limit"):
            collect_content(stream, [])
        user, assistant = stored_messages(gateway, only_conversation(gateway))
    assert (user["role"], user["content"]) == ("user", QUESTION)
    assert assistant["status"] == "failed"
    assert assistant["error"]


def test_failed_analysis_without_streaming_is_a_502(tmp_path: Path) -> None:
    with running_gateway(tmp_path, analysis_timeout_seconds=0.01) as gateway:
        with pytest.raises(openai.APIStatusError) as raised:
            gateway.openai().chat.completions.create(
                model="aether", messages=[{"role": "user", "content": QUESTION}]
            )
        assert raised.value.status_code == 502
        assert [m["role"] for m in stored_messages(gateway, only_conversation(gateway))] == [
            "user",
            "assistant",
        ]


def test_llm_dying_mid_answer_keeps_the_partial_text(tmp_path: Path) -> None:
    fake = FakeOpenAI(responder=lambda _: Reply("one two three four five six", drop_after_chunks=2))
    with (
        running_fake_openai(fake) as llm_url,
        running_gateway(tmp_path, llm_base_url=llm_url, llm_max_retries=0) as gateway,
    ):
        stream = gateway.openai().chat.completions.create(
            model="aether-architect", messages=[{"role": "user", "content": "hello"}], stream=True
        )
        received: list[str] = []
        with pytest.raises(openai.APIError):
            collect_content(stream, received)
        _, assistant = stored_messages(gateway, only_conversation(gateway))
    assert assistant["status"] == "failed"
    assert assistant["content"] == "".join(received)
    assert assistant["content"].startswith("one")


def test_client_disconnect_cancels_the_run_and_keeps_the_question(tmp_path: Path) -> None:
    fake = FakeOpenAI(responder=lambda _: Reply("slow answer", delay_seconds=5))
    with (
        running_fake_openai(fake) as llm_url,
        running_gateway(tmp_path, llm_base_url=llm_url) as gateway,
    ):
        body = {
            "model": "aether-architect",
            "messages": [{"role": "user", "content": "hello"}],
            "stream": True,
        }
        with (
            httpx.Client(base_url=gateway.base_url, timeout=30) as http,
            http.stream("POST", "/api/v1/chat/completions", json=body) as response,
        ):
            conversation_id = response.headers["x-conversation-id"]
            next(response.iter_lines())  # the stream is open; now the client goes away
        deadline = time.monotonic() + 10
        while len(messages := stored_messages(gateway, conversation_id)) < 2:
            assert time.monotonic() < deadline, messages
            time.sleep(0.05)
    user, assistant = messages
    assert user["content"] == "hello"
    assert assistant["status"] == "partial"
    assert assistant["error"] == "cancelled by the client"
