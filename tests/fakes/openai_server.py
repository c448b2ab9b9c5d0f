"""A real OpenAI-compatible HTTP server for tests: FastAPI + uvicorn on a free loopback port.

Tests talk to it over real HTTP, exactly as Aether talks to OpenAI, Ollama or vLLM, so the client
under test is never mocked. Behaviour is scripted:

- `failures`: consumed first, one per chat request (HTTP 500, 429 with Retry-After, 400, or a
  connection dropped after the headers);
- `replies`: then canned replies in order (text, or `Reply` with usage, delay, finish reason, or
  a stream that breaks off after some chunks);
- `responder`: then a callable `RecordedRequest -> str | Reply` (it runs in the server thread);
  without one, the reply echoes the last user message.

Every chat request is recorded (headers, JSON body) for assertions.

    fake = FakeOpenAI(replies=["Hello"], failures=[Failure.http(500)])
    with running_fake_openai(fake) as base_url:  # "http://127.0.0.1:<port>/v1"
        ...
    assert fake.requests[-1].authorization == "Bearer test-key"
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tests.servers import serve_in_thread

FAKE_MODEL: Final = "fake-model"
_PIECES: Final = re.compile(r"\s*\S+\s*|\s+")


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Token counts default to word counts of the prompt and the reply."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"
    delay_seconds: float = 0.0
    """Wait before the response starts (to provoke client timeouts)."""
    chunk_interval_seconds: float = 0.0
    """Streaming only: the pause before each content chunk (a slow model)."""
    drop_after_chunks: int | None = None
    """Streaming only: send this many content chunks, then close the connection."""
    include_usage: bool = True
    """Non-streaming: whether the body carries `usage` (some servers omit it)."""
    stream_error: str | None = None
    """Streaming only: end with an `{"error": ...}` event instead of finishing normally."""


@dataclass(frozen=True)
class Failure:
    """A scripted failure for one chat request."""

    status: int = 500
    message: str = "fake server failure"
    retry_after: str | None = None
    drop_connection: bool = False
    """Send 200 headers, then close the connection without a body."""

    @classmethod
    def http(cls, status: int, message: str = "fake server failure") -> Failure:
        return cls(status=status, message=message)

    @classmethod
    def rate_limited(cls, retry_after: str | None = "0") -> Failure:
        return cls(status=429, message="rate limit reached", retry_after=retry_after)

    @classmethod
    def dropped(cls) -> Failure:
        return cls(drop_connection=True)


@dataclass(frozen=True)
class RecordedRequest:
    """A chat request as the server received it."""

    headers: dict[str, str]
    """Lower-cased header names."""
    body: Any

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages = self.body.get("messages") if isinstance(self.body, dict) else None
        return messages if isinstance(messages, list) else []

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and bool(self.body.get("stream"))

    @property
    def last_user_message(self) -> str:
        for message in reversed(self.messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return str(message.get("content") or "")
        return ""


Responder = Callable[[RecordedRequest], str | Reply]


def echo_responder(request: RecordedRequest) -> str:
    return f"You said: {request.last_user_message}"


@dataclass
class FakeOpenAI:
    """The scripted behaviour and the record of one fake server; safe to use across threads."""

    replies: Iterable[str | Reply] = ()
    responder: Responder = echo_responder
    failures: Iterable[Failure] = ()
    api_key: str | None = None
    """When set, requests without `Authorization: Bearer <api_key>` get 401."""
    models: Sequence[str] = (FAKE_MODEL,)
    base_url: str | None = field(default=None, init=False)
    """`http://127.0.0.1:<port>/v1` while the server runs."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: deque[str | Reply] = deque(self.replies)
        self._failures: deque[Failure] = deque(self.failures)
        self._requests: list[RecordedRequest] = []
        self._ids = itertools.count(1)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def queue_reply(self, reply: str | Reply) -> None:
        with self._lock:
            self._replies.append(reply)

    def fail_next(self, failure: Failure, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([failure] * times)

    def app(self) -> FastAPI:
        app = FastAPI()
        app.add_api_route("/v1/models", self._list_models, methods=["GET"])
        app.add_api_route("/v1/chat/completions", self._chat_completions, methods=["POST"])
        return app

    async def _list_models(self) -> dict[str, Any]:
        data = [
            {"id": model, "object": "model", "created": 0, "owned_by": "aether-tests"}
            for model in self.models
        ]
        return {"object": "list", "data": data}

    async def _chat_completions(self, request: Request) -> Response:
        try:
            body: Any = json.loads(await request.body())
        except ValueError:
            body = None
        recorded = RecordedRequest(headers=dict(request.headers.items()), body=body)
        with self._lock:
            self._requests.append(recorded)
            failure = self._failures.popleft() if self._failures else None

        if self.api_key is not None and recorded.authorization != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided", "invalid_api_key")
        if failure is not None:
            if failure.drop_connection:
                return _DroppedResponse()
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
            return _error(failure.status, failure.message, "fake_failure", headers)
        problem = _invalid_request(body)
        if problem:
            return _error(400, problem, "invalid_request_error")

        with self._lock:
            queued = self._replies.popleft() if self._replies else None
        answer = queued if queued is not None else self.responder(recorded)
        reply = answer if isinstance(answer, Reply) else Reply(text=answer)
        if reply.delay_seconds:
            await asyncio.sleep(reply.delay_seconds)
        completion_id = f"chatcmpl-fake-{next(self._ids)}"
        model = str(body["model"])
        usage = _usage(recorded, reply)
        if recorded.stream:
            options = body.get("stream_options") or {}
            include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            frames = _stream_frames(completion_id, model, reply, usage if include_usage else None)
            return _SSEResponse(
                frames, drop_after=reply.drop_after_chunks, interval=reply.chunk_interval_seconds
            )
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": reply.finish_reason,
                }
            ],
        }
        if reply.include_usage:
            payload["usage"] = usage
        return JSONResponse(payload)


@contextmanager
def running_fake_openai(fake: FakeOpenAI | None = None) -> Iterator[str]:
    """Serve `fake` on 127.0.0.1 (free port) in a background thread; yield its `/v1` base URL.

    The server is stopped and its thread joined on exit, also when the test fails.
    """
    fake = fake if fake is not None else FakeOpenAI()
    with serve_in_thread(fake.app(), lifespan="off", name="fake-openai") as base_url:
        fake.base_url = f"{base_url}/v1"
        try:
            yield fake.base_url
        finally:
            fake.base_url = None


def _error(
    status: int, message: str, code: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"message": message, "type": code, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _invalid_request(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "'model' is required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list"
    for message in messages:
        if not isinstance(message, dict) or "role" not in message:
            return "each message needs a 'role'"
    return None


def _usage(request: RecordedRequest, reply: Reply) -> dict[str, int]:
    prompt = reply.prompt_tokens
    if prompt is None:
        prompt = sum(len(str(m.get("content") or "").split()) for m in request.messages)
    completion = reply.completion_tokens
    if completion is None:
        completion = len(reply.text.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _stream_frames(
    completion_id: str, model: str, reply: Reply, usage: dict[str, int] | None
) -> list[bytes]:
    """SSE frames as OpenAI sends them: role, content pieces, finish, usage, [DONE]."""

    def chunk(delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        frame: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
        if usage is not None:
            frame["usage"] = None
        return frame

    events: list[dict[str, Any]] = [chunk({"role": "assistant", "content": ""}, None)]
    events += [chunk({"content": piece}, None) for piece in _PIECES.findall(reply.text)]
    if reply.stream_error is not None:
        events.append({"error": {"message": reply.stream_error, "type": "server_error"}})
        usage = None
    else:
        events.append(chunk({}, reply.finish_reason))
    if usage is not None:
        events.append(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [],
                "usage": usage,
            }
        )
    frames = [f"data: {json.dumps(event)}\n\n".encode() for event in events]
    frames.append(b"data: [DONE]\n\n")
    return frames


class _SSEResponse(Response):
    """An event stream that can break off: after `drop_after` content chunks the connection is
    closed without completing the response, as when a proxy or the server dies mid-answer."""

    media_type = "text/event-stream"

    def __init__(self, frames: list[bytes], drop_after: int | None, interval: float) -> None:
        super().__init__(media_type=self.media_type)
        self._frames = frames
        self._drop_after = drop_after
        self._interval = interval

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        # The first frame only carries the role; content chunks follow it.
        limit = None if self._drop_after is None else 1 + self._drop_after
        for index, frame in enumerate(self._frames):
            if limit is not None and index >= limit:
                return
            if index and self._interval:
                await asyncio.sleep(self._interval)
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class _DroppedResponse(Response):
    """Headers, then the connection closes: the client sees a protocol error, not a status."""

    def __init__(self) -> None:
        super().__init__()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"", "more_body": True})
