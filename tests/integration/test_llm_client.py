"""LLMClient against a real fake OpenAI-compatible server over loopback HTTP."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from aether.config import Settings
from aether.llm.client import LLMClient
from aether.llm.errors import (
    LLMConnectionError,
    LLMError,
    LLMStatusError,
    LLMTimeoutError,
)
from aether.llm.messages import ChatMessage, LLMDelta
from tests.fakes.openai_server import (
    FAKE_MODEL,
    Failure,
    FakeOpenAI,
    RecordedRequest,
    Reply,
    running_fake_openai,
)

API_KEY = "sk-test-secret-123"
MESSAGES = [
    ChatMessage(role="system", content="You are Aether."),
    ChatMessage(role="user", content="How much did I use last week?"),
]


@pytest.fixture
def fake() -> FakeOpenAI:
    return FakeOpenAI(api_key=API_KEY)


@pytest.fixture
def base_url(fake: FakeOpenAI) -> Iterator[str]:
    with running_fake_openai(fake) as url:
        yield url


def make_client(base_url: str, **overrides: float) -> LLMClient:
    options: dict[str, float] = {
        "timeout_seconds": 5.0,
        "max_retries": 2,
        "backoff_base_seconds": 0.001,
        "backoff_max_seconds": 0.01,
        "retry_after_max_seconds": 0.05,
    }
    options.update(overrides)
    return LLMClient(
        base_url,
        API_KEY,
        FAKE_MODEL,
        timeout_seconds=options["timeout_seconds"],
        max_retries=int(options["max_retries"]),
        backoff_base_seconds=options["backoff_base_seconds"],
        backoff_max_seconds=options["backoff_max_seconds"],
        retry_after_max_seconds=options["retry_after_max_seconds"],
    )


async def collect(client: LLMClient) -> list[LLMDelta]:
    return [delta async for delta in client.stream(MESSAGES)]


async def test_complete_returns_text_usage_and_model(fake: FakeOpenAI, base_url: str) -> None:
    fake.queue_reply(Reply("You used 42.0 kWh.", prompt_tokens=17, completion_tokens=6))
    async with make_client(base_url) as client:
        completion = await client.complete(MESSAGES, temperature=0.2, max_tokens=100)

    assert completion.text == "You used 42.0 kWh."
    assert (completion.prompt_tokens, completion.completion_tokens) == (17, 6)
    assert completion.model == FAKE_MODEL
    assert completion.finish_reason == "stop"
    assert not completion.usage_estimated
    [request] = fake.requests
    assert request.body["model"] == FAKE_MODEL
    assert request.messages == [m.model_dump(exclude_none=True) for m in MESSAGES]
    assert request.body["temperature"] == 0.2
    assert request.body["max_tokens"] == 100
    assert request.body["stream"] is False
    assert "response_format" not in request.body
    assert "stream_options" not in request.body


async def test_authorization_header_carries_the_api_key(fake: FakeOpenAI, base_url: str) -> None:
    async with make_client(base_url) as client:
        await client.complete(MESSAGES)
    assert fake.requests[0].authorization == f"Bearer {API_KEY}"


async def test_json_mode_is_requested(fake: FakeOpenAI, base_url: str) -> None:
    fake.queue_reply('{"intent": "analysis"}')
    async with make_client(base_url) as client:
        completion = await client.complete(MESSAGES, response_format_json=True)
    assert completion.text == '{"intent": "analysis"}'
    assert fake.requests[0].body["response_format"] == {"type": "json_object"}


async def test_usage_is_estimated_when_the_server_sends_none(
    fake: FakeOpenAI, base_url: str
) -> None:
    fake.queue_reply(Reply("Baseload is 180 W.", include_usage=False))
    async with make_client(base_url) as client:
        completion = await client.complete(MESSAGES)
    assert completion.usage_estimated
    assert completion.prompt_tokens > 10
    assert completion.completion_tokens > 3


async def test_responder_callable_programs_replies(base_url: str, fake: FakeOpenAI) -> None:
    def responder(request: RecordedRequest) -> str:
        return f"{len(request.messages)} messages, last: {request.last_user_message}"

    fake.responder = responder
    async with make_client(base_url) as client:
        completion = await client.complete(MESSAGES)
    assert completion.text == "2 messages, last: How much did I use last week?"


async def test_stream_deltas_join_to_the_text_and_usage_comes_last(
    fake: FakeOpenAI, base_url: str
) -> None:
    text = "Your baseload is 180 W, about 4.3 kWh a day."
    fake.queue_reply(Reply(text, prompt_tokens=21, completion_tokens=12))
    async with make_client(base_url) as client:
        deltas = await collect(client)

    assert len([d for d in deltas if d.text]) > 3
    assert "".join(d.text for d in deltas) == text
    assert deltas[-1].usage is not None
    assert deltas[-1].usage.prompt_tokens == 21
    assert deltas[-1].usage.completion_tokens == 12
    assert deltas[-1].usage.total_tokens == 33
    assert any(d.finish_reason == "stop" for d in deltas)
    request = fake.requests[0]
    assert request.stream
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.headers["accept"] == "text/event-stream"


async def test_complete_retries_500_then_succeeds(fake: FakeOpenAI, base_url: str) -> None:
    fake.fail_next(Failure.http(500), times=2)
    fake.queue_reply("recovered")
    async with make_client(base_url, max_retries=2) as client:
        completion = await client.complete(MESSAGES)
    assert completion.text == "recovered"
    assert len(fake.requests) == 3


async def test_complete_retries_429_and_respects_retry_after(
    fake: FakeOpenAI, base_url: str
) -> None:
    fake.fail_next(Failure.rate_limited(retry_after="0.2"))
    fake.queue_reply("after the pause")
    started = time.monotonic()
    async with make_client(base_url, retry_after_max_seconds=1.0) as client:
        completion = await client.complete(MESSAGES)
    assert completion.text == "after the pause"
    assert time.monotonic() - started >= 0.2
    assert len(fake.requests) == 2


async def test_retry_after_is_capped(fake: FakeOpenAI, base_url: str) -> None:
    fake.fail_next(Failure.rate_limited(retry_after="3600"))
    started = time.monotonic()
    async with make_client(base_url, retry_after_max_seconds=0.05) as client:
        completion = await client.complete(MESSAGES)
    assert completion.text.startswith("You said:")
    assert time.monotonic() - started < 2.0


async def test_gives_up_after_max_retries(fake: FakeOpenAI, base_url: str) -> None:
    fake.fail_next(Failure.http(503, "overloaded"), times=10)
    async with make_client(base_url, max_retries=2) as client:
        with pytest.raises(LLMStatusError) as caught:
            await client.complete(MESSAGES)

    error = caught.value
    assert error.status_code == 503
    assert error.attempts == 3
    assert len(fake.requests) == 3
    message = str(error)
    assert "HTTP 503" in message
    assert "overloaded" in message
    assert f"{base_url}/chat/completions" in message
    assert "after 3 attempts" in message
    assert API_KEY not in message


async def test_no_retry_on_400(fake: FakeOpenAI, base_url: str) -> None:
    fake.fail_next(Failure.http(400, "context length exceeded"))
    async with make_client(base_url, max_retries=3) as client:
        with pytest.raises(LLMStatusError) as caught:
            await client.complete(MESSAGES)
    assert caught.value.status_code == 400
    assert "context length exceeded" in str(caught.value)
    assert len(fake.requests) == 1


async def test_wrong_key_is_not_retried_and_never_leaked(fake: FakeOpenAI, base_url: str) -> None:
    fake.fail_next(Failure.http(401, f"Incorrect API key provided: {API_KEY}"))
    async with make_client(base_url) as client:
        with pytest.raises(LLMError) as caught:
            await client.complete(MESSAGES)
    assert caught.value.status_code == 401
    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value.args)
    assert len(fake.requests) == 1


async def test_read_timeout_raises_llm_error_without_retry(fake: FakeOpenAI, base_url: str) -> None:
    fake.queue_reply(Reply("too late", delay_seconds=0.5))
    async with make_client(base_url, timeout_seconds=0.1, max_retries=2) as client:
        with pytest.raises(LLMTimeoutError) as caught:
            await client.complete(MESSAGES)
    assert "did not answer within 0.1s" in str(caught.value)
    assert len(fake.requests) == 1


async def test_dropped_connection_is_retried(fake: FakeOpenAI, base_url: str) -> None:
    fake.fail_next(Failure.dropped())
    fake.queue_reply("second try")
    async with make_client(base_url) as client:
        completion = await client.complete(MESSAGES)
    assert completion.text == "second try"
    assert len(fake.requests) == 2


async def test_unreachable_server_raises_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with make_client(f"http://127.0.0.1:{port}/v1", max_retries=1) as client:
        with pytest.raises(LLMConnectionError) as caught:
            await client.complete(MESSAGES)
    assert caught.value.attempts == 2
    assert f"127.0.0.1:{port}" in str(caught.value)


async def test_stream_retries_when_nothing_was_yielded(fake: FakeOpenAI, base_url: str) -> None:
    fake.fail_next(Failure.rate_limited())
    fake.queue_reply(Reply("dropped early", drop_after_chunks=0))
    fake.queue_reply("third time lucky")
    async with make_client(base_url, max_retries=2) as client:
        deltas = await collect(client)
    assert "".join(d.text for d in deltas) == "third time lucky"
    assert len(fake.requests) == 3


async def test_stream_is_not_retried_after_text_was_yielded(
    fake: FakeOpenAI, base_url: str
) -> None:
    fake.queue_reply(Reply("one two three four five", drop_after_chunks=2))
    received: list[str] = []

    async def consume(client: LLMClient) -> None:
        async for delta in client.stream(MESSAGES):
            received.append(delta.text)

    async with make_client(base_url, max_retries=3) as client:
        with pytest.raises(LLMConnectionError):
            await consume(client)
    assert "".join(received) == "one two "
    assert len(fake.requests) == 1


async def test_error_event_mid_stream_raises(fake: FakeOpenAI, base_url: str) -> None:
    fake.queue_reply(Reply("partial answer", stream_error="model crashed"))
    received: list[str] = []

    async def consume(client: LLMClient) -> None:
        async for delta in client.stream(MESSAGES):
            received.append(delta.text)

    async with make_client(base_url) as client:
        with pytest.raises(LLMStatusError, match="failed mid-stream: model crashed"):
            await consume(client)
    assert "".join(received) == "partial answer"
    assert len(fake.requests) == 1


async def test_stream_gives_up_after_max_retries(fake: FakeOpenAI, base_url: str) -> None:
    fake.fail_next(Failure.http(500), times=5)
    async with make_client(base_url, max_retries=1) as client:
        with pytest.raises(LLMStatusError) as caught:
            await collect(client)
    assert caught.value.attempts == 2
    assert len(fake.requests) == 2


async def test_consumer_may_stop_a_stream_early(fake: FakeOpenAI, base_url: str) -> None:
    fake.queue_reply("many words in this reply that nobody reads to the end")
    fake.queue_reply("next call works")
    async with make_client(base_url) as client:
        async for delta in client.stream(MESSAGES):
            if delta.text:
                break
        completion = await client.complete(MESSAGES)
    assert completion.text == "next call works"


async def test_list_models(base_url: str) -> None:
    async with make_client(base_url) as client:
        assert await client.list_models() == [FAKE_MODEL]


async def test_from_settings(fake: FakeOpenAI, base_url: str) -> None:
    assert LLMClient.from_settings(Settings(llm_base_url=None)) is None
    settings = Settings(llm_base_url=base_url, llm_api_key=API_KEY, llm_model="house-model")
    client = LLMClient.from_settings(settings)
    assert client is not None
    async with client:
        completion = await client.complete(MESSAGES)
    assert completion.text == "You said: How much did I use last week?"
    assert fake.requests[0].body["model"] == "house-model"
    assert fake.requests[0].authorization == f"Bearer {API_KEY}"


async def test_credentials_in_base_url_are_not_shown(fake: FakeOpenAI, base_url: str) -> None:
    fake.fail_next(Failure.http(400))
    url = base_url.replace("http://", "http://user:hunter2@")
    async with make_client(url) as client:
        with pytest.raises(LLMError) as caught:
            await client.complete(MESSAGES)
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in caught.value.endpoint
