"""Turns a run's agent events into OpenAI `chat.completion.chunk` frames.

Progress (routing, hand-offs, analysts, sandbox jobs) travels as `delta.reasoning_content`, which
Open WebUI shows as thinking and strict clients ignore; the answer travels as `delta.content`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aether.agents.contract import AgentEvent, FindingsEvent, ProposalEvent, StatusEvent
from aether.gateway.errors import error_body
from aether.gateway.openai_schema import (
    ChatCompletionChunk,
    ChunkChoice,
    Delta,
    Usage,
)

FinishReason = Literal["stop", "length"]


def progress_text(event: AgentEvent) -> str | None:
    """One line a person can follow, or None for events that are not progress."""
    if isinstance(event, StatusEvent):
        return f"[{event.agent.value}] {event.message}\n"
    if isinstance(event, FindingsEvent) and event.analyst is not None:
        titles = "; ".join(finding.title for finding in event.findings[:5])
        more = f" (+{len(event.findings) - 5} more)" if len(event.findings) > 5 else ""
        return (
            f"[{event.agent.value}] {event.analyst} findings "
            f"(confidence {event.confidence:.2f}): {titles}{more}\n"
        )
    if isinstance(event, ProposalEvent):
        return f"[{event.agent.value}] proposal {event.proposal.id}: {event.proposal.title}\n"
    return None


@dataclass(frozen=True)
class ChunkWriter:
    """Builds the frames of one streamed completion; every frame shares id, model and time."""

    completion_id: str
    model: str
    created: int

    def role(self) -> str:
        return self._frame(Delta(role="assistant", content=""))

    def reasoning(self, text: str) -> str:
        return self._frame(Delta(reasoning_content=text))

    def content(self, text: str) -> str:
        return self._frame(Delta(content=text))

    def finish(self, reason: FinishReason) -> str:
        return self._frame(Delta(), finish_reason=reason)

    def usage(self, usage: Usage) -> str:
        chunk = ChatCompletionChunk(
            id=self.completion_id, created=self.created, model=self.model, choices=[], usage=usage
        )
        return chunk.model_dump_json()

    def _frame(self, delta: Delta, finish_reason: FinishReason | None = None) -> str:
        chunk = ChatCompletionChunk(
            id=self.completion_id,
            created=self.created,
            model=self.model,
            choices=[ChunkChoice(delta=delta, finish_reason=finish_reason)],
        )
        return chunk.model_dump_json(exclude_none=True)


def completion_id(run_id: str) -> str:
    """A run's completion id: the same for the live answer and for every replay of it."""
    return f"chatcmpl-{run_id.replace('-', '')}"


def error_frame(status: int, message: str, code: str) -> str:
    """Sent as `data: {"error": ...}` after the stream started; the openai SDK raises APIError."""
    return error_body(status, message, code=code).model_dump_json()
