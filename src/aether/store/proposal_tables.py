"""The proposals' tables and the records their repository returns (`aether.store.proposals`).

Declared on the models' metadata, like the feedback table, so migrations and the schema check
see them; only the proposals repository reads or writes them.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple, cast

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from aether.agents.proposals.model import (
    Justification,
    ProposalBrief,
    ProposalKind,
    ProposalStatus,
    Saving,
)
from aether.store.errors import NotFoundError, StoreError
from aether.store.models import Base, EventId
from aether.store.types import utcnow


class ProposalNotFoundError(NotFoundError):
    def __init__(self, proposal_id: str) -> None:
        super().__init__("proposal", proposal_id)


class InvalidTransitionError(StoreError):
    """The action does not apply to the proposal's current status (a 409 on the API)."""

    def __init__(
        self, proposal_id: str, action: str, status: ProposalStatus, allowed: Collection[str]
    ) -> None:
        needed = " or ".join(sorted(allowed))
        super().__init__(
            f"Proposal {proposal_id} is {status.value}; it can only be {_past(action)} when it "
            f"is {needed}."
        )
        self.proposal_id = proposal_id
        self.action = action
        self.status = status


class RequestStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    SUPERSEDED = "superseded"
    """A newer question in the same conversation replaced it."""
    EXPIRED = "expired"
    """Its proposals were all decided elsewhere (API, CLI) before the user answered."""


def _enum(enum: type[StrEnum], name: str) -> Enum:
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [member.value for member in members],
    )


class ProposalRow(Base):
    __tablename__ = "proposals"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[ProposalKind] = mapped_column(_enum(ProposalKind, "proposal_kind"))
    status: Mapped[ProposalStatus] = mapped_column(
        _enum(ProposalStatus, "proposal_status"), index=True
    )
    title: Mapped[str] = mapped_column(Text)
    automation_id: Mapped[str] = mapped_column(String(128), index=True)
    automation: Mapped[dict[str, Any]]
    justification: Mapped[dict[str, Any]]
    saving: Mapped[dict[str, Any]]
    confidence: Mapped[float]
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    previous_config: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    """What Home Assistant held under the automation's id before the deployment; None when it
    held nothing (a rollback then deletes the automation)."""
    deployed_to: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProposalEntityRow(Base):
    """One row per entity a proposal reads or controls, for the `entity` filter."""

    __tablename__ = "proposal_entities"

    proposal_id: Mapped[str] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True
    )
    entity_id: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)


class ProposalAuditRow(Base):
    __tablename__ = "proposal_audit"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    proposal_id: Mapped[str] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApprovalRequestRow(Base):
    """A question an agent asked in a conversation, whose answer resumes the agent's task."""

    __tablename__ = "approval_requests"
    __table_args__ = (
        Index("ix_approval_requests_conversation_id_status", "conversation_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    agent: Mapped[str] = mapped_column(String(64))
    task_id: Mapped[str] = mapped_column(String(64))
    context_id: Mapped[str] = mapped_column(String(64))
    proposal_ids: Mapped[list[str]] = mapped_column(JSON)
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[RequestStatus] = mapped_column(_enum(RequestStatus, "request_status"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    answer_run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))


proposal_table = cast(Table, ProposalRow.__table__)
entity_table = cast(Table, ProposalEntityRow.__table__)
audit_table = cast(Table, ProposalAuditRow.__table__)
request_table = cast(Table, ApprovalRequestRow.__table__)


# --- records ----------------------------------------------------------------------------------


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class AuditEntry(_Record):
    id: int
    proposal_id: str
    action: str
    from_status: ProposalStatus | None
    to_status: ProposalStatus
    actor: str
    """Who: an API key's identity (`api-key-<fingerprint>`), `cli`, or the drafting agent."""
    reason: str | None
    detail: dict[str, Any]
    created_at: AwareDatetime


class StoredProposal(_Record):
    id: str
    kind: ProposalKind
    status: ProposalStatus
    title: str
    entities: list[str]
    automation_id: str
    automation: dict[str, Any]
    justification: Justification
    saving: Saving
    confidence: float
    conversation_id: str | None
    run_id: str | None
    rejection_reason: str | None
    previous_config: dict[str, Any] | None
    deployed_to: str | None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    audit: list[AuditEntry]
    """Oldest first."""

    def brief(self) -> ProposalBrief:
        return ProposalBrief(
            id=self.id, title=self.title, status=self.status, entities=self.entities
        )


class ApprovalRequest(_Record):
    id: str
    conversation_id: str
    run_id: str | None
    agent: str
    task_id: str
    context_id: str
    proposal_ids: list[str]
    question: str
    status: RequestStatus
    created_at: AwareDatetime
    answered_at: AwareDatetime | None
    answer_run_id: str | None


class ProposalFilter(NamedTuple):
    """Which proposals `ProposalRepository.list` returns; None matches any value."""

    status: ProposalStatus | None = None
    entity_id: str | None = None
    conversation_id: str | None = None


class Transition(NamedTuple):
    """A status change: allowed only from `allowed`; `values` are further columns to set."""

    action: str
    allowed: frozenset[ProposalStatus]
    to: ProposalStatus
    actor: str
    reason: str | None
    values: dict[str, Any] = {}  # noqa: RUF012 - a NamedTuple default, never mutated
    detail: dict[str, Any] = {}  # noqa: RUF012


def _past(action: str) -> str:
    return {
        "approve": "approved",
        "reject": "rejected",
        "deploy": "deployed",
        "rollback": "rolled back",
        "export": "exported",
    }.get(action, action)
