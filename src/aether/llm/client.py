"""Async client for any OpenAI-compatible chat-completions endpoint (OpenAI, OpenRouter, Ollama,
vLLM, llama.cpp server), with timeouts, bounded retries and typed errors.

Retries: connection failures, 429 and 5xx are retried with exponential backoff and jitter (a
Retry-After header is respected, capped). A read timeout is not retried: the server accepted the
request and is slow, and repeating it would multiply the caller's wait. A stream is retried only
while nothing has been yielded, so a caller never sees text twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import AbstractContextManager, aclosing
from types import TracebackType
from typing import Final, Self
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import ValidationError

from aether.config import Settings
from aether.llm.errors import (
    LLMConnectionError,
    LLMError,
    LLMResponseError,
    LLMStatusError,
    LLMTimeoutError,
)
from aether.llm.messages import ChatMessage, LLMCompletion, LLMDelta, LLMUsage
from aether.llm.retry import RetryPolicy, is_retryable_status
from aether.llm.sse import iter_sse_data
from aether.llm.tokens import count_message_tokens, count_tokens
from aether.llm.wire import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ResponseFormat,
    StreamOptions,
    WireErrorBody,
)
from aether.observability import metrics, tracing

__all__ = ["ChatMessage", "LLMClient", "LLMCompletion", "LLMDelta", "LLMError"]

logger = logging.getLogger(__name__)

_CONNECT_TIMEOUT_MAX: Final = 10.0
_ERROR_BODY_CHARS: Final = 300
_DONE: Final = "[DONE]"
_RETRYABLE_TRANSPORT_ERRORS: Final = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)


class _Attempt(Exception):
    """A failed attempt: the error to raise if it is the last, and whether to try again."""

    def __init__(self, error: LLMError, *, retryable: bool, retry_after: str | None = None):
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable
        self.retry_after = retry_after


class LLMClient:
    """One model on one OpenAI-compatible endpoint. `base_url` ends before `/chat/completions`."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        timeout_seconds: float = 60.0,
        max_retries: int = 2,
        *,
        backoff_base_seconds: float = 0.5,
        backoff_max_seconds: float = 8.0,
        retry_after_max_seconds: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model = model
        self._api_key = api_key or None
        self._url = f"{base_url.rstrip('/')}/chat/completions"
        self._models_url = f"{base_url.rstrip('/')}/models"
        self.endpoint = _without_credentials(self._url)
        """The chat-completions URL as shown in errors and logs (user:password removed)."""
        self._timeout_seconds = timeout_seconds
        self._policy = RetryPolicy(
            max_retries=max_retries,
            backoff_base=backoff_base_seconds,
            backoff_max=backoff_max_seconds,
            retry_after_max=retry_after_max_seconds,
        )
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(
                timeout_seconds, connect=min(timeout_seconds, _CONNECT_TIMEOUT_MAX)
            ),
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMClient | None:
        """The configured client, or None when LLM_BASE_URL is unset (offline mode)."""
        if settings.llm_base_url is None:
            return None
        return cls(
            str(settings.llm_base_url),
            settings.llm_api_key,
            settings.llm_model,
            timeout_seconds=settings.llm_timeout_seconds,
            max_retries=settings.llm_max_retries,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        response_format_json: bool = False,
    ) -> LLMCompletion:
        """One completion; LLMError when retries are exhausted or the error is not transient."""
        request = self._request(messages, False, temperature, max_tokens, response_format_json)
        with self._traced(messages) as span:
            attempt = 0
            while True:
                attempt += 1
                try:
                    completion = await self._complete_once(request, messages)
                except _Attempt as failed:
                    await self._before_retry(failed, attempt)
                    continue
                used = LLMUsage(
                    prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens,
                )
                self._used(span, completion.model, used)
                if span.recording:
                    span.set_outputs(completion.text)
                return completion

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        response_format_json: bool = False,
    ) -> AsyncIterator[LLMDelta]:
        """Text deltas as they arrive; the last item carries the usage when the server sends it."""
        request = self._request(messages, True, temperature, max_tokens, response_format_json)
        with self._traced(messages) as span:
            text: list[str] = []
            attempt = 0
            while True:
                attempt += 1
                yielded = False
                try:
                    async with aclosing(self._stream_once(request)) as deltas:
                        async for delta in deltas:
                            yielded = True
                            if delta.usage is not None:
                                self._used(span, delta.model or self.model, delta.usage)
                            elif span.recording:
                                text.append(delta.text)
                            yield delta
                    if span.recording:
                        span.set_outputs("".join(text))
                    return
                except _Attempt as failed:
                    if yielded:
                        failed.error.attempts = attempt
                        raise failed.error from failed.__cause__
                    await self._before_retry(failed, attempt)

    async def list_models(self) -> list[str]:
        """Model ids the endpoint offers (GET /models); one attempt, for health checks."""
        shown = _without_credentials(self._models_url)
        try:
            response = await self._http.get(self._models_url, headers=self._headers(False))
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, shown).error from exc
        if response.status_code >= 400:
            raise self._status_error(response).error
        try:
            return [str(item["id"]) for item in response.json()["data"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise LLMResponseError(
                f"LLM endpoint {shown} returned an invalid model list", endpoint=shown
            ) from exc

    def _traced(self, messages: Sequence[ChatMessage]) -> AbstractContextManager[tracing.Span]:
        """A CHAT_MODEL span around one call, retries included; counted in `aether_llm_calls`
        as `error` when it raises."""
        attributes = {"aether.llm.model": self.model, "aether.llm.endpoint": self.endpoint}
        return _CountedSpan(self.model, tracing.span("llm", "CHAT_MODEL", attributes), messages)

    @staticmethod
    def _used(span: tracing.Span, model: str, usage: LLMUsage) -> None:
        span.set_token_usage(usage.prompt_tokens, usage.completion_tokens)
        metrics.record_llm_usage(model, usage.prompt_tokens, usage.completion_tokens)

    def _request(
        self,
        messages: Sequence[ChatMessage],
        stream: bool,
        temperature: float | None,
        max_tokens: int | None,
        response_format_json: bool,
    ) -> ChatCompletionRequest:
        return ChatCompletionRequest(
            model=self.model,
            messages=list(messages),
            stream=stream,
            temperature=temperature,
            max_tokens=max_tokens,
            response_format=ResponseFormat(type="json_object") if response_format_json else None,
            stream_options=StreamOptions(include_usage=True) if stream else None,
        )

    def _headers(self, stream: bool) -> dict[str, str]:
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    async def _complete_once(
        self, request: ChatCompletionRequest, messages: Sequence[ChatMessage]
    ) -> LLMCompletion:
        try:
            response = await self._http.post(
                self._url, json=request.payload(), headers=self._headers(False)
            )
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        if response.status_code >= 400:
            raise self._status_error(response)
        try:
            parsed = ChatCompletionResponse.model_validate_json(response.content)
        except ValidationError as exc:
            error = self._invalid("a body that is not a chat completion")
            raise _Attempt(error, retryable=False) from exc
        if not parsed.choices:
            raise _Attempt(self._invalid("a completion without choices"), retryable=False)
        choice = parsed.choices[0]
        text = choice.message.content or ""
        usage = parsed.usage
        return LLMCompletion(
            text=text,
            prompt_tokens=usage.prompt_tokens if usage else count_message_tokens(messages),
            completion_tokens=usage.completion_tokens if usage else count_tokens(text),
            model=parsed.model or self.model,
            finish_reason=choice.finish_reason,
            usage_estimated=usage is None,
        )

    async def _stream_once(self, request: ChatCompletionRequest) -> AsyncGenerator[LLMDelta, None]:
        try:
            async with self._http.stream(
                "POST", self._url, json=request.payload(), headers=self._headers(True)
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._status_error(response)
                async for data in iter_sse_data(response.aiter_lines()):
                    if data.strip() == _DONE:
                        return
                    for delta in self._parse_chunk(data):
                        yield delta
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc

    def _parse_chunk(self, data: str) -> list[LLMDelta]:
        try:
            payload = json.loads(data)
        except ValueError as exc:
            error = self._invalid("a stream event that is not JSON")
            raise _Attempt(error, retryable=False) from exc
        if isinstance(payload, dict) and "error" in payload:
            try:
                message = _error_message(WireErrorBody.model_validate(payload))
            except ValidationError:
                message = "no details"
            raise _Attempt(
                LLMStatusError(
                    self._redact(f"LLM endpoint {self.endpoint} failed mid-stream: {message}"),
                    endpoint=self.endpoint,
                ),
                retryable=False,
            )
        try:
            chunk = ChatCompletionChunk.model_validate(payload)
        except ValidationError as exc:
            error = self._invalid("a stream event that is not a chunk")
            raise _Attempt(error, retryable=False) from exc
        deltas: list[LLMDelta] = []
        for choice in chunk.choices[:1]:
            if choice.delta.content or choice.finish_reason:
                deltas.append(
                    LLMDelta(
                        text=choice.delta.content or "",
                        model=chunk.model,
                        finish_reason=choice.finish_reason,
                    )
                )
        if chunk.usage is not None:
            usage = LLMUsage(
                prompt_tokens=chunk.usage.prompt_tokens,
                completion_tokens=chunk.usage.completion_tokens,
            )
            deltas.append(LLMDelta(usage=usage, model=chunk.model))
        return deltas

    async def _before_retry(self, failed: _Attempt, attempt: int) -> None:
        """Raise the final error, or sleep until the next attempt may start."""
        if not failed.retryable or attempt > self._policy.max_retries:
            failed.error.attempts = attempt
            raise failed.error from failed.__cause__
        delay = self._policy.delay(attempt, failed.retry_after)
        logger.warning(
            "LLM call failed, retrying in %.2fs (attempt %d of %d): %s",
            delay,
            attempt + 1,
            self._policy.max_retries + 1,
            failed.error,
        )
        await asyncio.sleep(delay)

    def _transport_error(self, exc: httpx.HTTPError, endpoint: str | None = None) -> _Attempt:
        endpoint = endpoint or self.endpoint
        retryable = isinstance(exc, _RETRYABLE_TRANSPORT_ERRORS)
        error: LLMError
        if isinstance(exc, httpx.ConnectTimeout):
            error = LLMTimeoutError(
                f"LLM endpoint {endpoint} did not accept a connection within "
                f"{min(self._timeout_seconds, _CONNECT_TIMEOUT_MAX):g}s",
                endpoint=endpoint,
            )
        elif isinstance(exc, httpx.TimeoutException):
            error = LLMTimeoutError(
                f"LLM endpoint {endpoint} did not answer within {self._timeout_seconds:g}s",
                endpoint=endpoint,
            )
        else:
            reason = self._redact(str(exc)) or type(exc).__name__
            error = LLMConnectionError(
                f"LLM endpoint {endpoint}: connection failed: {reason}",
                endpoint=endpoint,
            )
        return _Attempt(error, retryable=retryable)

    def _status_error(self, response: httpx.Response) -> _Attempt:
        status = response.status_code
        detail = _response_detail(response)
        endpoint = _without_credentials(str(response.request.url))
        error = LLMStatusError(
            self._redact(f"LLM endpoint {endpoint} returned HTTP {status}: {detail}"),
            endpoint=endpoint,
            status_code=status,
        )
        return _Attempt(
            error,
            retryable=is_retryable_status(status),
            retry_after=response.headers.get("retry-after"),
        )

    def _invalid(self, what: str) -> LLMResponseError:
        return LLMResponseError(f"LLM endpoint {self.endpoint} sent {what}", endpoint=self.endpoint)

    def _redact(self, text: str) -> str:
        """Servers sometimes echo the key in their error text; never pass it on."""
        return text.replace(self._api_key, "***") if self._api_key else text


class _CountedSpan:
    """The LLM call's span, which also counts the call by outcome when it ends."""

    def __init__(
        self,
        model: str,
        scope: AbstractContextManager[tracing.Span],
        messages: Sequence[ChatMessage],
    ) -> None:
        self._model = model
        self._scope = scope
        self._messages = messages

    def __enter__(self) -> tracing.Span:
        span = self._scope.__enter__()
        if span.recording:
            span.set_inputs({"messages": [m.model_dump(exclude_none=True) for m in self._messages]})
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        if exc_type is None:
            outcome = "ok"
        elif issubclass(exc_type, GeneratorExit | asyncio.CancelledError):
            outcome = "cancelled"  # the caller stopped reading (a token budget, a cancel)
        else:
            outcome = "error"
        metrics.LLM_CALLS.labels(metrics.service.name, self._model, outcome).inc()
        return self._scope.__exit__(exc_type, exc, traceback)


def _response_detail(response: httpx.Response) -> str:
    try:
        return _error_message(WireErrorBody.model_validate_json(response.content))
    except ValidationError:
        text = response.text.strip()
        return text[:_ERROR_BODY_CHARS] or response.reason_phrase or "no details"


def _error_message(body: WireErrorBody) -> str:
    if isinstance(body.error, str):
        return body.error[:_ERROR_BODY_CHARS]
    return body.error.message[:_ERROR_BODY_CHARS] or body.error.type or "no details"


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
