"""The monolith as a user meets it: `aether serve` in its own process, the official openai SDK."""

from __future__ import annotations

import re
from pathlib import Path

import openai
import pytest

from tests.e2e.monolith import aether_process

KEY = "e2e-key"
QUESTION = "How much energy did I use last week, and what is my baseload?"


def client(base_url: str, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/api/v1", api_key=key, max_retries=0)


def test_openai_sdk_against_the_monolith(tmp_path: Path) -> None:
    with aether_process(tmp_path, API_KEYS=KEY) as base_url:
        sdk = client(base_url)
        assert "aether-architect" in {model.id for model in sdk.models.list()}

        completion = sdk.chat.completions.create(
            model="aether", messages=[{"role": "user", "content": QUESTION}]
        )
        answer = completion.choices[0].message.content or ""
        assert re.search(r"\d[\d,.]* kWh", answer)
        assert re.search(r"\d[\d,.]* W\b", answer)

        stream = sdk.chat.completions.create(
            model="aether", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
        chunks = list(stream)
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert "kWh" in streamed
        assert chunks[-1].choices[0].finish_reason == "stop"

        with pytest.raises(openai.AuthenticationError):
            client(base_url, "wrong-key").models.list()
        with pytest.raises(openai.BadRequestError):
            sdk.chat.completions.create(
                model="aether", messages=[{"role": "user", "content": "hi"}], n=2
            )
        with pytest.raises(openai.BadRequestError):
            sdk.chat.completions.create(model="aether", messages=[])


def test_conversations_survive_a_restart(tmp_path: Path) -> None:
    with aether_process(tmp_path) as base_url:
        raw = client(base_url).chat.completions.with_raw_response.create(
            model="aether", messages=[{"role": "user", "content": "hello"}]
        )
        conversation_id = raw.headers["x-conversation-id"]
    with aether_process(tmp_path) as base_url:
        sdk = client(base_url)
        listed = sdk.get("/conversations", cast_to=object)
        assert isinstance(listed, dict)
        assert conversation_id in {c["id"] for c in listed["data"]}
