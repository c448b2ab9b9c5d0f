"""Answers a retried request from what its first request stored (`aether.gateway.idempotency`).

A completed run is replayed as the same completion: the same id, `created`, text, finish reason
and usage. A failed or cancelled one as the same error (502, or 409 for a cancelled run). Asked
for a stream, the replay is a valid stream of its own: the progress lines from the run's event
log, the answer in one piece, then the end (or the error frame).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sse_starlette import EventSourceResponse

from aether.agents.contract import ErrorEvent, agent_event_adapter
from aether.gateway.chat_service import RUN_CANCELLED
from aether.gateway.errors import error_response
from aether.gateway.idempotency import REPLAYED_HEADER, settled_run
from aether.gateway.openai_schema import (
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ResponseMessage,
    Usage,
    dump,
)
from aether.gateway.streaming import ChunkWriter, completion_id, error_frame, progress_text
from aether.store import MessageRole, Run, RunEvent, RunStatus, Store
from aether.store.idempotency import IdempotencyRecord

FAILED_STATUS = 502
CANCELLED_STATUS = 409
_RUN_FAILED = "run_failed"
"""The code of a failure whose own code was not recorded (a run ended by the lease reaper)."""


@dataclass(frozen=True)
class StoredFailure:
    status: int
    message: str
    code: str


async def replay(
    store: Store, record: IdempotencyRecord, request: ChatCompletionRequest
) -> Response:
    """The first request's answer, once its run has ended (waiting for it if need be)."""
    run = await settled_run(store, record.run_id)
    headers = {
        "X-Conversation-Id": run.conversation_id,
        "X-Run-Id": run.id,
        REPLAYED_HEADER: "true",
    }
    text = await _reply(store, run)
    events = await store.runs.events(run.id)
    failure = None if run.status is RunStatus.COMPLETED else _failure(run, record, events)
    finish_reason: Literal["stop", "length"] = (
        "length" if record.finish_reason == "length" else "stop"
    )
    usage = _usage(run)
    if request.stream:
        frames = _frames(
            run, text, events, failure, finish_reason, usage if request.include_usage else None
        )
        return EventSourceResponse(_sent(frames), headers=headers)
    if failure is not None:
        return error_response(failure.status, failure.message, code=failure.code, headers=headers)
    completion = ChatCompletion(
        id=completion_id(run.id),
        created=_created(run),
        model=run.model,
        choices=[Choice(message=ResponseMessage(content=text), finish_reason=finish_reason)],
        usage=usage,
    )
    return JSONResponse(dump(completion), headers=headers)


def _failure(run: Run, record: IdempotencyRecord, events: list[RunEvent]) -> StoredFailure:
    if run.status is RunStatus.CANCELLED:
        return StoredFailure(
            CANCELLED_STATUS,
            f"The run was {run.error or 'cancelled'}.",
            record.error_code or RUN_CANCELLED,
        )
    code = record.error_code or _last_error_code(events) or _RUN_FAILED
    return StoredFailure(FAILED_STATUS, run.error or "The run failed.", code)


def _last_error_code(events: list[RunEvent]) -> str | None:
    for event in reversed(events):
        if event.type == "error":
            code = event.payload.get("code")
            return code if isinstance(code, str) else None
    return None


def _frames(
    run: Run,
    text: str,
    events: list[RunEvent],
    failure: StoredFailure | None,
    finish_reason: Literal["stop", "length"],
    usage: Usage | None,
) -> list[str]:
    writer = ChunkWriter(completion_id(run.id), run.model, _created(run))
    frames = [writer.role()]
    frames += [writer.reasoning(line) for line in _progress(events)]
    if text:
        frames.append(writer.content(text))
    if failure is not None:
        frames.append(error_frame(failure.status, failure.message, failure.code))
        return frames
    frames.append(writer.finish(finish_reason))
    if usage is not None:
        frames.append(writer.usage(usage))
    frames.append("[DONE]")
    return frames


def _progress(events: list[RunEvent]) -> list[str]:
    """The progress lines the live stream sent, rebuilt from the run's event log."""
    lines: list[str] = []
    for stored in events:
        try:
            event = agent_event_adapter.validate_python({**stored.payload, "type": stored.type})
        except ValidationError:  # not an agent event (a cancel request, a lease note)
            continue
        if isinstance(event, ErrorEvent):
            continue
        line = progress_text(event)
        if line is not None:
            lines.append(line)
    return lines


async def _sent(frames: list[str]) -> AsyncIterator[dict[str, str]]:
    for frame in frames:
        yield {"data": frame}


async def _reply(store: Store, run: Run) -> str:
    messages = await store.conversations.messages(run.conversation_id)
    for message in messages:
        if message.run_id == run.id and message.role is MessageRole.ASSISTANT:
            return message.content
    return ""


def _usage(run: Run) -> Usage:
    prompt, completion = run.prompt_tokens or 0, run.completion_tokens or 0
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def _created(run: Run) -> int:
    return int(run.created_at.timestamp())
