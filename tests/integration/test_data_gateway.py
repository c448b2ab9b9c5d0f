"""A chat through the real gateway with DATA_SOURCE=homeassistant, pointed at the fake Home
Assistant: answers with figures from HA's data, and a clear error when HA refuses the token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import openai
import pytest

from aether.data.demo import generate_demo_household
from tests.fakes.home_assistant import FAKE_TOKEN, FakeHomeAssistant, running_fake_home_assistant
from tests.gateway_harness import running_gateway

QUESTION = "How much energy did I use last week?"


@pytest.fixture(scope="module")
def home_assistant() -> Iterator[tuple[str, FakeHomeAssistant]]:
    now = datetime.now(UTC)
    fake = FakeHomeAssistant(
        generate_demo_household(now, days=21, timezone="Europe/Vienna"), now=now, keep_days=30
    )
    with running_fake_home_assistant(fake) as url:
        yield url, fake


def test_a_chat_answers_with_kwh_from_home_assistant(
    tmp_path: Path, home_assistant: tuple[str, FakeHomeAssistant]
) -> None:
    url, fake = home_assistant
    with running_gateway(
        tmp_path, data_source="homeassistant", ha_url=url, ha_token=FAKE_TOKEN
    ) as gateway:
        completion = gateway.openai().chat.completions.create(
            model="aether", messages=[{"role": "user", "content": QUESTION}]
        )
    answer = completion.choices[0].message.content or ""
    assert re.search(r"\d[\d,.]* kWh", answer), answer
    assert any(r.startswith("/api/history/period/") for r in fake.requests)
    assert not (tmp_path / "household").exists()  # no demo household with Home Assistant


def test_a_refused_token_is_a_clear_error_not_a_crash(
    tmp_path: Path, home_assistant: tuple[str, FakeHomeAssistant]
) -> None:
    url, _ = home_assistant
    with running_gateway(
        tmp_path, data_source="homeassistant", ha_url=url, ha_token="revoked"
    ) as gateway:
        with pytest.raises(openai.APIStatusError) as info:
            gateway.openai().chat.completions.create(
                model="aether-energy-analyst", messages=[{"role": "user", "content": QUESTION}]
            )
        assert info.value.status_code == 502
        body = info.value.body
        assert isinstance(body, dict)
        assert body["code"] == "data_source_unauthorized"
        assert "HA_TOKEN" in body["message"]
        health = gateway.http().get("/health")
        assert health.status_code == 200
