"""Human in the loop, on the chat side: the gateway stores what agents propose, keeps the
questions they ask, and turns the user's next message into the answer that resumes the task.

- A ProposalEvent is stored as a `proposed` proposal of the conversation (audit: the agent).
- An InputRequiredEvent is recorded as the conversation's open question, with the task that
  waits for it: an A2A task id in distributed mode (the architect service's SDK keeps the task in
  `input-required`); in the monolith the agent runs in this process and the recorded question is
  the waiting task, so it gets its ids here. Its question is the run's answer text.
- The next message of that conversation is read as the answer (approve, reject and why, later,
  or none of these). The gateway applies it, as the user (their API key's identity) and with their
  words as the reason: approve, then deploy when Home Assistant is configured; reject. Then it
  continues the same task with the outcome (`AgentRequest.resume`). An unclear answer changes
  nothing and the agent asks again; a question whose proposals were all decided elsewhere
  (API, CLI) meanwhile expires, and the message is routed as a new question.

Nothing is ever approved without a user's message answering the question about that proposal.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Final

from aether.agents.contract import AgentEvent, AgentName, InputRequiredEvent, ProposalEvent
from aether.agents.proposals.answers import Answer, read_answer
from aether.agents.proposals.lifecycle import (
    DeploymentFailedError,
    DeploymentUnavailableError,
    ProposalService,
)
from aether.agents.proposals.model import (
    ProposalBrief,
    ProposalOutcome,
    ProposalStatus,
    ResumeInput,
)
from aether.store.proposals import (
    ApprovalRequest,
    InvalidTransitionError,
    ProposalFilter,
    RequestStatus,
    StoredProposal,
)

log = logging.getLogger(__name__)

MAX_WAITING: Final = 20
"""Proposals of a conversation the architect is told about for "apply it"."""
MAX_REASON: Final = 500


@dataclass(frozen=True)
class Resumption:
    """A message that answers an agent's question: whom to call, with what."""

    agent: AgentName
    resume: ResumeInput
    reason: str
    """Why the run goes to that agent (shown as the routing reason)."""


class ApprovalDesk:
    def __init__(self, proposals: ProposalService) -> None:
        self._proposals = proposals

    async def waiting(self, conversation_id: str) -> list[ProposalBrief]:
        """The conversation's proposals that still wait for a decision."""
        where = ProposalFilter(status=ProposalStatus.PROPOSED, conversation_id=conversation_id)
        proposals, _ = await self._proposals.list(where, limit=MAX_WAITING)
        return [proposal.brief() for proposal in proposals]

    async def record(self, event: AgentEvent, *, conversation_id: str, run_id: str) -> AgentEvent:
        """Store a proposal or an open question; returns the event as it should be logged (a
        question with the ids of its waiting task)."""
        if isinstance(event, ProposalEvent):
            await self._proposals.record(
                event.proposal,
                actor=f"agent:{event.agent.value}",
                conversation_id=conversation_id,
                run_id=run_id,
            )
            return event
        if not isinstance(event, InputRequiredEvent):
            return event
        waiting = event
        if waiting.task_id is None:  # in process: this record is the waiting task
            waiting = event.model_copy(
                update={"task_id": uuid.uuid4().hex, "context_id": conversation_id}
            )
        assert waiting.task_id is not None
        await self._proposals.repository.add_request(
            conversation_id=conversation_id,
            run_id=run_id,
            agent=waiting.agent.value,
            task_id=waiting.task_id,
            context_id=waiting.context_id or conversation_id,
            proposal_ids=waiting.proposal_ids,
            question=waiting.question,
        )
        return waiting

    async def resumption(
        self,
        *,
        conversation_id: str,
        run_id: str,
        message: str,
        caller: str,
        requested: AgentName | None = None,
    ) -> Resumption | None:
        """The answer `message` gives to the conversation's open question, applied, or None
        when there is no open question, or the message is addressed to another agent (route
        it as usual; the question stays open)."""
        repository = self._proposals.repository
        request = await repository.open_request(conversation_id)
        if request is None or (requested is not None and requested.value != request.agent):
            return None
        proposals = await self._current(request)
        pending = [p.id for p in proposals if p.status is ProposalStatus.PROPOSED]
        if not pending:
            await repository.close_request(request.id, RequestStatus.EXPIRED, run_id)
            return None
        if not await repository.close_request(request.id, RequestStatus.ANSWERED, run_id):
            return None  # another message answered it a moment ago
        answer = read_answer(message, pending)
        outcomes = [await self._apply(proposal, answer, message, caller) for proposal in proposals]
        log.info(
            "run %s answers task %s of %s: %s %s",
            run_id,
            request.task_id,
            request.agent,
            answer.decision or "unclear",
            ", ".join(answer.proposal_ids),
        )
        return Resumption(
            agent=AgentName(request.agent),
            resume=ResumeInput(
                task_id=request.task_id,
                context_id=request.context_id,
                proposal_ids=list(answer.proposal_ids),
                decision=answer.decision,
                reason=answer.reason,
                outcomes=outcomes,
            ),
            reason=f"your answer to the {request.agent}'s question (task {request.task_id})",
        )

    async def _current(self, request: ApprovalRequest) -> list[StoredProposal]:
        found = [await self._proposals.repository.get(pid) for pid in request.proposal_ids]
        return [proposal for proposal in found if proposal is not None]

    async def _apply(
        self, proposal: StoredProposal, answer: Answer, message: str, caller: str
    ) -> ProposalOutcome:
        if proposal.id not in answer.proposal_ids or answer.decision in (None, "defer"):
            return _outcome(proposal, _standing(proposal))
        words = message.strip()[:MAX_REASON]
        try:
            if answer.decision == "reject":
                reason = answer.reason or f"rejected in the chat: {words}"
                rejected = await self._proposals.reject(proposal.id, actor=caller, reason=reason)
                return _outcome(rejected, f"rejected; the reason is recorded ({reason})")
            approved = await self._proposals.approve(
                proposal.id, actor=caller, reason=f"approved in the chat: {words}"
            )
        except InvalidTransitionError as exc:
            current = await self._proposals.get(proposal.id)
            return _outcome(current, str(exc))
        return await self._deploy(approved, caller)

    async def _deploy(self, approved: StoredProposal, caller: str) -> ProposalOutcome:
        try:
            deployed = await self._proposals.deploy(approved.id, actor=caller)
        except DeploymentUnavailableError:
            return _outcome(
                approved,
                "approved. No Home Assistant is connected, so add it yourself: "
                f"`GET /api/v1/proposals/{approved.id}/yaml` or `aether proposals show "
                f"{approved.id} --yaml` gives the YAML for automations.yaml",
            )
        except DeploymentFailedError as exc:
            return _outcome(
                approved,
                f"approved, but Home Assistant did not take it ({exc.message}); retry with "
                f"`aether proposals deploy {approved.id}`",
            )
        except InvalidTransitionError as exc:
            return _outcome(await self._proposals.get(approved.id), str(exc))
        return _outcome(
            deployed,
            f"approved and deployed to Home Assistant as automation `{deployed.automation_id}`; "
            f"undo it any time with `aether proposals rollback {deployed.id}`",
        )


def _standing(proposal: StoredProposal) -> str:
    if proposal.status is ProposalStatus.PROPOSED:
        return (
            "still proposed; approve it any time with "
            f"`aether proposals approve {proposal.id}` or in a later message"
        )
    return f"already {proposal.status.value.replace('_', ' ')}"


def _outcome(proposal: StoredProposal, detail: str) -> ProposalOutcome:
    return ProposalOutcome(
        proposal_id=proposal.id, title=proposal.title, status=proposal.status, detail=detail
    )
