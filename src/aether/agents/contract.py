"""The contract between agents and their callers: requests, the events an agent streams back, and
the two protocols (`Agent` is what an agent implements, `AgentClient` is how anyone calls one).

The event types map one-to-one onto A2A (status -> TaskStatusUpdateEvent, text/findings/
proposals -> TaskArtifactUpdateEvent, final/error -> terminal task states, input required -> the
interrupted INPUT_REQUIRED state), so a call that crosses the network loses nothing. Agents never
know whether their caller is in the same process.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, Field, TypeAdapter

from aether.agents.proposals.model import ProposalBrief, ProposalDraft, ResumeInput
from aether.analysis.findings import AnalysisParams, AnalystName, Finding


class AgentName(StrEnum):
    """Every agent a user may address; `ds-analysts` hosts the three analysts."""

    ARCHITECT = "architect"
    DS_ORCHESTRATOR = "ds-orchestrator"
    ENERGY_ANALYST = "energy-analyst"
    BEHAVIORAL_ANALYST = "behavioral-analyst"
    DIAGNOSTIC_ANALYST = "diagnostic-analyst"


ANALYST_AGENTS: dict[AgentName, AnalystName] = {
    AgentName.ENERGY_ANALYST: "energy",
    AgentName.BEHAVIORAL_ANALYST: "behavioral",
    AgentName.DIAGNOSTIC_ANALYST: "diagnostic",
}


class ServiceName(StrEnum):
    """The deployable roles that host agents; one AgentClient per service."""

    ARCHITECT = "architect"
    DS_ORCHESTRATOR = "ds-orchestrator"
    DS_ANALYSTS = "ds-analysts"


def service_of(agent: AgentName) -> ServiceName:
    if agent in ANALYST_AGENTS:
        return ServiceName.DS_ANALYSTS
    return ServiceName(agent.value)


class ChatTurn(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class AgentRequest(BaseModel):
    """One call to an agent. `analysis` is set by callers that already know the window."""

    run_id: str
    agent: AgentName
    question: str
    history: list[ChatTurn] = Field(default_factory=list)
    analysis: AnalysisParams | None = None
    analysts: list[AnalystName] | None = None
    """For the orchestrator: which analysts to run; None lets it decide. For an analyst: the
    team it runs in (the lead one answers what the built-in analyses do not cover)."""
    resume: ResumeInput | None = None
    """Set when this call answers the question a task of this agent asked (InputRequiredEvent):
    the call continues that task, and carries the user's answer as the caller applied it."""
    proposals: list[ProposalBrief] = Field(default_factory=list)
    """Proposals the conversation already has that are still waiting for a decision, so the
    architect can act on "apply it"."""
    attempt: int | None = None
    """For an analyst: which of the orchestrator's attempts this call is (1, then 2, 3 for its
    retries), so the trace tells the attempts apart."""


class Stage(StrEnum):
    ROUTING = "routing"
    HANDOFF = "handoff"
    PLANNING = "planning"
    ANALYST_STARTED = "analyst_started"
    ANALYST_FINISHED = "analyst_finished"
    ANALYST_RETRY = "analyst_retry"
    SANDBOX_JOB = "sandbox_job"
    DATA_LOADED = "data_loaded"
    WRITING = "writing"
    PROPOSING = "proposing"


class StatusEvent(BaseModel):
    """Progress worth showing to a person (streamed as reasoning text on the public API)."""

    type: Literal["status"] = "status"
    agent: AgentName
    stage: Stage
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class TextDelta(BaseModel):
    type: Literal["text"] = "text"
    agent: AgentName
    text: str


class FindingsEvent(BaseModel):
    type: Literal["findings"] = "findings"
    agent: AgentName
    analyst: AnalystName | None = None
    findings: list[Finding]
    confidence: float = Field(ge=0.0, le=1.0)
    entity_names: dict[str, str] = Field(default_factory=dict)
    """Friendly name per entity id, so that whoever narrates the findings can name devices."""


class UsageEvent(BaseModel):
    """Tokens an LLM really spent on behalf of the request."""

    type: Literal["usage"] = "usage"
    agent: AgentName
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)


class FinalEvent(BaseModel):
    """The agent is done; `text` is its whole answer (the text deltas joined)."""

    type: Literal["final"] = "final"
    agent: AgentName
    text: str


class ProposalEvent(BaseModel):
    """A drafted, validated proposal (an automation that waits for a person's approval); the
    gateway stores it as `proposed`."""

    type: Literal["proposal"] = "proposal"
    agent: AgentName
    proposal: ProposalDraft


class InputRequiredEvent(BaseModel):
    """The agent cannot go on without an answer from the user: the call ends here, and the task
    waits (A2A: TASK_STATE_INPUT_REQUIRED) until a call with `AgentRequest.resume` continues it.

    `task_id` and `context_id` name the waiting task: the A2A layer sets them; in process, the
    caller that keeps the waiting task (the gateway) assigns them."""

    type: Literal["input_required"] = "input_required"
    agent: AgentName
    question: str
    """What the user is asked, with how to answer; shown to them as the answer text."""
    proposal_ids: list[str] = Field(default_factory=list)
    """The proposals the question is about."""
    task_id: str | None = None
    context_id: str | None = None


class ErrorEvent(BaseModel):
    """The agent failed; nothing follows. `code` is stable, `message` is safe to show a user."""

    type: Literal["error"] = "error"
    agent: AgentName
    code: str
    message: str


AgentEvent = Annotated[
    StatusEvent
    | TextDelta
    | FindingsEvent
    | UsageEvent
    | ProposalEvent
    | InputRequiredEvent
    | FinalEvent
    | ErrorEvent,
    Field(discriminator="type"),
]
agent_event_adapter: TypeAdapter[AgentEvent] = TypeAdapter(AgentEvent)


def ends_call(event: AgentEvent) -> bool:
    """The last event of a call: the agent finished (final, error) or waits for input."""
    return isinstance(event, FinalEvent | ErrorEvent | InputRequiredEvent)


class Agent(Protocol):
    """What every agent implements. It yields events and ends with a FinalEvent or ErrorEvent."""

    def stream(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]: ...


class AgentClient(Protocol):
    """How callers reach an agent, in the same process or across the network."""

    def stream(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]: ...


class AgentDirectory(Protocol):
    """Resolves the client for the service that hosts an agent."""

    def client_for(self, service: ServiceName) -> AgentClient: ...
