"""What a proposal is, as the architect drafts it and as it travels in agent events, the store
and the API: a Home Assistant automation, the finding and figures that justify it, and the saving
expected from it with the assumptions behind that number.

Pure data that imports nothing of the agents, the store or the gateway, so every one of them can
use it (the contract's events carry it across A2A as JSON).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

PROPOSAL_ID_LENGTH: Final = 12
"""Hex digits of a proposal id: short enough to type in a chat reply, ample for one household."""


def new_proposal_id() -> str:
    return uuid.uuid4().hex[:PROPOSAL_ID_LENGTH]


class ProposalKind(StrEnum):
    ROUTINE = "routine"
    """A recurring manual action (switching on or off at about the same time), done for you."""
    NIGHT_OFF = "night_off"
    """A device that is often left on through the night, switched off when it is."""
    LOAD_SHIFT = "load_shift"
    """A heavy load moved into the cheapest hours of a time-of-use tariff."""


class ProposalStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    DEPLOYED = "deployed"
    ROLLED_BACK = "rolled_back"


Figure = float | int | str


class Saving(BaseModel):
    """What the automation is expected to save, per year, and what that estimate assumes.

    Every number is optional: Aether states only what the data supports (no power sensor, no
    kWh) and says so in `summary` and `assumptions`.
    """

    model_config = ConfigDict(frozen=True)

    energy_kwh_per_year: float | None = None
    cost_per_year: float | None = None
    currency: str | None = None
    hours_per_year: float | None = None
    """Hours a device is no longer left running, where that is what the automation saves."""
    summary: str
    assumptions: list[str] = Field(default_factory=list)


class Justification(BaseModel):
    """The finding a proposal comes from, with the figures that make the case."""

    model_config = ConfigDict(frozen=True)

    finding_kind: str
    finding_title: str
    summary: str
    confidence: float = Field(ge=0.0, le=1.0)
    figures: dict[str, Figure] = Field(default_factory=dict)
    period_start: datetime | None = None
    period_end: datetime | None = None


class ProposalDraft(BaseModel):
    """A proposal as drafted: validated against Home Assistant's automation schema and the
    household's entities before anyone sees it."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, max_length=36)
    kind: ProposalKind
    title: str
    entities: list[str]
    """The entities the automation reads or controls."""
    automation: dict[str, Any]
    """The automation's configuration as Home Assistant's config API takes it (its `id` is the
    automation's config id)."""
    justification: Justification
    saving: Saving
    confidence: float = Field(ge=0.0, le=1.0)

    @property
    def automation_id(self) -> str:
        return str(self.automation["id"])


class ProposalBrief(BaseModel):
    """A proposal the conversation already has: what the gateway tells the architect, so that
    "apply it" can refer to an earlier answer's proposals."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    status: ProposalStatus
    entities: list[str] = Field(default_factory=list)


Decision = Literal["approve", "reject", "defer"]


class ProposalOutcome(BaseModel):
    """Where one proposal stands after the user's answer was applied, in words for the user."""

    model_config = ConfigDict(frozen=True)

    proposal_id: str
    title: str
    status: ProposalStatus
    detail: str


class ResumeInput(BaseModel):
    """The user's answer to an agent's question, sent on the task that asked it.

    The caller (the gateway) has read the answer and applied it (approvals need the user's
    identity and the store); the agent goes on from `outcomes`. `decision` is None when the
    words were no answer, so the agent asks again.
    """

    model_config = ConfigDict(frozen=True)

    task_id: str
    context_id: str
    proposal_ids: list[str]
    decision: Decision | None = None
    reason: str | None = None
    outcomes: list[ProposalOutcome] = Field(default_factory=list)
