"""`POST /api/v1/chat/completions`: the OpenAI chat endpoint, streaming and not."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse

from aether.agents.contract import ErrorEvent, FinalEvent, InputRequiredEvent, TextDelta
from aether.gateway.auth import caller_identity, require_api_key
from aether.gateway.chat_service import RUN_CANCELLED, ChatService, PreparedChat, RunOutcome
from aether.gateway.errors import error_response
from aether.gateway.openai_schema import (
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ResponseMessage,
    dump,
)
from aether.gateway.streaming import ChunkWriter, error_frame, progress_text

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_api_key)])

AGENT_FAILURE_STATUS = 502
"""An agent that fails is an upstream failure from the client's point of view, not bad input."""
CANCELLED_STATUS = 409
"""The run was cancelled through the runs API while this request waited for it."""


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    x_conversation_id: Annotated[str | None, Header(max_length=64)] = None,
) -> Response:
    service: ChatService = request.app.state.chat
    chat = await service.prepare(body, x_conversation_id, caller_identity(request))
    headers = {"X-Conversation-Id": chat.conversation_id, "X-Run-Id": chat.run_id}
    if body.stream:
        frames = _stream(service, chat, include_usage=body.include_usage)
        return EventSourceResponse(frames, headers=headers, ping=15)
    return await _complete(service, chat, headers)


async def _complete(service: ChatService, chat: PreparedChat, headers: dict[str, str]) -> Response:
    outcome = RunOutcome()
    async for _ in service.execute(chat, outcome):
        pass
    if outcome.error is not None:
        return error_response(
            _status(outcome.error), outcome.error.message, code=outcome.error.code, headers=headers
        )
    completion = ChatCompletion(
        id=_completion_id(chat),
        created=int(time.time()),
        model=chat.model,
        choices=[
            Choice(
                message=ResponseMessage(content=outcome.text), finish_reason=outcome.finish_reason
            )
        ],
        usage=outcome.usage(chat.prompt_estimate),
    )
    return JSONResponse(dump(completion), headers=headers)


async def _stream(
    service: ChatService, chat: PreparedChat, *, include_usage: bool
) -> AsyncIterator[dict[str, str]]:
    writer = ChunkWriter(_completion_id(chat), chat.model, int(time.time()))
    outcome = RunOutcome()
    yield {"data": writer.role()}
    sent_text = False
    async for event in service.execute(chat, outcome):
        if isinstance(event, TextDelta):
            sent_text = True
            yield {"data": writer.content(event.text)}
        elif isinstance(event, FinalEvent | InputRequiredEvent) and not sent_text and outcome.text:
            yield {"data": writer.content(outcome.text)}
        elif isinstance(event, ErrorEvent):
            yield {"data": error_frame(_status(event), event.message, event.code)}
        elif (line := progress_text(event)) is not None:
            yield {"data": writer.reasoning(line)}
    if outcome.error is not None:
        return  # the error frame ends the stream; the run is already stored as failed
    yield {"data": writer.finish(outcome.finish_reason)}
    if include_usage:
        yield {"data": writer.usage(outcome.usage(chat.prompt_estimate))}
    yield {"data": "[DONE]"}


def _status(error: ErrorEvent) -> int:
    return CANCELLED_STATUS if error.code == RUN_CANCELLED else AGENT_FAILURE_STATUS


def _completion_id(chat: PreparedChat) -> str:
    return f"chatcmpl-{chat.run_id.replace('-', '')}"
