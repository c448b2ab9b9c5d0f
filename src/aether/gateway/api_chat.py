"""`POST /api/v1/chat/completions`: the OpenAI chat endpoint, streaming and not.

With an `Idempotency-Key`, a retry is answered from the first request's run
(`aether.gateway.replay`). A run that fails because an agent (or the database) cannot be
reached before anything was answered is a 503 with `Retry-After`; for a stream too, which is
held back until the agent has taken the request (`FIRST_EVENT_WAIT_SECONDS` at most).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Final

import anyio
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse

from aether.agents.contract import ErrorEvent, FinalEvent, InputRequiredEvent, TextDelta
from aether.gateway.auth import caller_identity, require_api_key
from aether.gateway.chat_service import RUN_CANCELLED, ChatService, PreparedChat, RunOutcome
from aether.gateway.draining import Drain
from aether.gateway.errors import (
    DATABASE_UNAVAILABLE,
    DATABASE_UNAVAILABLE_MESSAGE,
    UNAVAILABLE_STATUS,
    error_response,
    unavailable_response,
)
from aether.gateway.idempotency import Duplicate, validated_key
from aether.gateway.openai_schema import (
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ResponseMessage,
    dump,
)
from aether.gateway.replay import replay
from aether.gateway.run_pump import EventPump
from aether.gateway.streaming import ChunkWriter, completion_id, error_frame, progress_text
from aether.store import DatabaseUnavailableError, Store

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_api_key)])

AGENT_FAILURE_STATUS: Final = 502
"""An agent that fails is an upstream failure from the client's point of view, not bad input."""
CANCELLED_STATUS: Final = 409
"""The run was cancelled through the runs API while this request waited for it."""
FIRST_EVENT_WAIT_SECONDS: Final = 20.0
"""How long a stream is held back for the agent to take the request. Longer than the A2A
client's connection attempts to an unreachable agent (3 x 5 s connect timeout), so that case is
a 503; an agent slower than this to start gets a 200 stream that waits for it."""
SSE_PING_SECONDS: Final = 15


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    x_conversation_id: Annotated[str | None, Header(max_length=64)] = None,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    key = validated_key(idempotency_key)
    service: ChatService = request.app.state.chat
    accepted = await service.prepare(body, x_conversation_id, caller_identity(request), key)
    if isinstance(accepted, Duplicate):
        store: Store = request.app.state.store
        return await replay(store, accepted.record, body)
    chat = accepted
    headers = {"X-Conversation-Id": chat.conversation_id, "X-Run-Id": chat.run_id}
    if body.stream:
        drain: Drain = request.app.state.drain
        return await _stream_response(
            service,
            chat,
            headers,
            include_usage=body.include_usage,
            shutdown_grace=drain.stream_grace_seconds,
        )
    return await _complete(service, chat, headers)


async def _complete(service: ChatService, chat: PreparedChat, headers: dict[str, str]) -> Response:
    outcome = RunOutcome()
    async for _ in service.execute(chat, outcome):
        pass
    if outcome.error is not None:
        return _error_response(outcome, headers)
    completion = ChatCompletion(
        id=completion_id(chat.run_id),
        created=chat.created,
        model=chat.model,
        choices=[
            Choice(
                message=ResponseMessage(content=outcome.text), finish_reason=outcome.finish_reason
            )
        ],
        usage=outcome.usage(chat.prompt_estimate),
    )
    return JSONResponse(dump(completion), headers=headers)


async def _stream_response(
    service: ChatService,
    chat: PreparedChat,
    headers: dict[str, str],
    *,
    include_usage: bool,
    shutdown_grace: float,
) -> Response:
    """Starts the run, and the stream once the agent has taken the request: a run that fails
    before that (the agent is unreachable) is an error response with its own status."""
    outcome = RunOutcome()
    pump = EventPump(service.execute(chat, outcome))
    try:
        await pump.wait(outcome.agent_responded, FIRST_EVENT_WAIT_SECONDS)
    except BaseException:
        pump.cancel()
        raise
    if pump.failure is not None:
        raise pump.failure
    if pump.ended and outcome.error is not None and _status(outcome) == UNAVAILABLE_STATUS:
        return _error_response(outcome, headers)
    frames = _stream(pump, chat, outcome, include_usage=include_usage)
    # When the server stops, sse-starlette sets the event and cuts the stream only after the
    # grace, which lets the drain end the run with an error frame first.
    return EventSourceResponse(
        frames,
        headers=headers,
        ping=SSE_PING_SECONDS,
        shutdown_event=anyio.Event(),
        shutdown_grace_period=shutdown_grace,
    )


async def _stream(
    pump: EventPump, chat: PreparedChat, outcome: RunOutcome, *, include_usage: bool
) -> AsyncIterator[dict[str, str]]:
    writer = ChunkWriter(completion_id(chat.run_id), chat.model, chat.created)
    yield {"data": writer.role()}
    sent_text = False
    try:
        async for event in pump.events():
            if isinstance(event, TextDelta):
                sent_text = True
                yield {"data": writer.content(event.text)}
            elif (
                isinstance(event, FinalEvent | InputRequiredEvent)
                and not sent_text
                and outcome.text
            ):
                yield {"data": writer.content(outcome.text)}
            elif isinstance(event, ErrorEvent):
                yield {"data": error_frame(_status(outcome), event.message, event.code)}
            elif (line := progress_text(event)) is not None:
                yield {"data": writer.reasoning(line)}
    except DatabaseUnavailableError:
        frame = error_frame(UNAVAILABLE_STATUS, DATABASE_UNAVAILABLE_MESSAGE, DATABASE_UNAVAILABLE)
        yield {"data": frame}
        return
    finally:
        pump.cancel()  # the client went away (or the run is over: then it changes nothing)
    if outcome.error is not None:
        return  # the error frame ends the stream; the run is already stored as failed
    yield {"data": writer.finish(outcome.finish_reason)}
    if include_usage:
        yield {"data": writer.usage(outcome.usage(chat.prompt_estimate))}
    yield {"data": "[DONE]"}


def _error_response(outcome: RunOutcome, headers: dict[str, str]) -> JSONResponse:
    assert outcome.error is not None
    error = outcome.error
    status = _status(outcome)
    if status == UNAVAILABLE_STATUS:
        return unavailable_response(error.message, error.code, headers)
    return error_response(status, error.message, code=error.code, headers=headers)


def _status(outcome: RunOutcome) -> int:
    """The HTTP status of the run's error: 503 when what it needed was unreachable and trying
    again later can help; 409 when it was cancelled; 502 for an agent's failure."""
    error = outcome.error
    if error is None:
        return AGENT_FAILURE_STATUS
    if error.code == RUN_CANCELLED:
        return CANCELLED_STATUS
    if outcome.retryable or error.code == DATABASE_UNAVAILABLE:
        return UNAVAILABLE_STATUS
    return AGENT_FAILURE_STATUS
