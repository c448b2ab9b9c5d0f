"""What the repositories return: immutable values, safe to use after the session has closed."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

from pydantic import AwareDatetime, BaseModel, ConfigDict


class MessageRole(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


class MessageStatus(StrEnum):
    COMPLETE = "complete"
    PARTIAL = "partial"
    FAILED = "failed"


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class Conversation(_Record):
    id: str
    title: str | None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class Message(_Record):
    id: str
    conversation_id: str
    role: MessageRole
    content: str
    status: MessageStatus
    error: str | None
    run_id: str | None
    created_at: AwareDatetime


class Run(_Record):
    id: str
    conversation_id: str
    model: str
    agent_requested: str
    agent: str | None
    """The agent the run was routed to; None until routing has happened."""
    routing_reason: str | None
    routing_confidence: float | None
    status: RunStatus
    error: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    created_at: AwareDatetime
    finished_at: AwareDatetime | None


class RunEvent(_Record):
    id: int
    """Global, strictly increasing: the cursor for `RunRepository.events(after_id=...)`."""
    run_id: str
    seq: int
    """1, 2, 3, ... within the run, without gaps."""
    type: str
    payload: dict[str, Any]
    created_at: AwareDatetime


class OpenedTurn(NamedTuple):
    """What `TurnRepository.open_turn` stored: unpack as `conversation, run, message`."""

    conversation: Conversation
    run: Run
    message: Message
    """The user's question."""


class FinishedTurn(NamedTuple):
    """What `TurnRepository.finish_turn` stored: the run as finished, and the reply if any."""

    run: Run
    message: Message | None
