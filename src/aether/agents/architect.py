"""The architect: the conversational agent. It gets findings from the DS orchestrator and writes
the answer, with the LLM when one is configured and with the offline writer otherwise.

Its second job is to propose changes, never to make them: when the findings support an action
(a routine, a device left on at night, a heavy load that could run in cheaper hours) it drafts
validated Home Assistant automations (`aether.agents.proposals`), streams each as a
ProposalEvent and lists them, with their ids, after the answer. When the user asked to set one
up ("set up an automation for the coffee machine", "apply it"), it cannot go on without their
approval: it asks, ends the call with an InputRequiredEvent (its A2A task goes to
input-required), and goes on when the user's answer comes back on the same task
(`AgentRequest.resume`), by then applied by the gateway, which holds the proposals.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from zoneinfo import ZoneInfo

from aether.agents.contract import (
    AgentDirectory,
    AgentEvent,
    AgentName,
    AgentRequest,
    ErrorEvent,
    FinalEvent,
    FindingsEvent,
    InputRequiredEvent,
    ProposalEvent,
    ServiceName,
    Stage,
    StatusEvent,
    TextDelta,
    UsageEvent,
)
from aether.agents.intent import Intent, read_intent
from aether.agents.planning import Clock, plan_analysis
from aether.agents.proposals.answers import ProposalWish, mentioned_ids, proposal_wish
from aether.agents.proposals.drafting import DraftingInputs, draft_proposals
from aether.agents.proposals.model import (
    ProposalBrief,
    ProposalDraft,
    ProposalStatus,
    ResumeInput,
)
from aether.agents.proposals.text import (
    applying_text,
    approval_question,
    outcome_text,
    proposals_section,
    reask_text,
)
from aether.analysis.findings import AnalysisParams, Finding
from aether.analysis.tariff import Tariff
from aether.llm.client import ChatMessage, LLMClient, LLMError
from aether.llm.offline_writer import (
    architect_system_prompt,
    artifacts_line,
    findings_context,
    write_answer,
    write_capabilities,
    write_greeting,
)

log = logging.getLogger(__name__)

_PIECES = re.compile(r"[^\n]*\n|[^\n]+$")
NOTHING_TO_SET_UP = (
    "I found nothing in this data that I could set up as an automation: no routine, no device "
    "left on at night and no load to move to cheaper hours.\n"
)


@dataclass
class _Analysis:
    """What the DS orchestrator handed back, and what the answer needs to narrate it."""

    tz: tzinfo
    label: str | None = None
    findings: list[Finding] = field(default_factory=list)
    entity_names: dict[str, str] = field(default_factory=dict)
    """Friendly names from every FindingsEvent, so the answer names devices as the household
    does."""
    failure: ErrorEvent | None = None


@dataclass(frozen=True)
class _Plan:
    """What the answer carries besides the narration: new proposals, and those it asks about."""

    drafts: list[ProposalDraft]
    asked: list[ProposalBrief]
    wish: ProposalWish


class Architect:
    name = AgentName.ARCHITECT

    def __init__(
        self,
        directory: AgentDirectory,
        clock: Clock,
        timezone: str,
        llm: LLMClient | None,
        tariff: Tariff | None = None,
    ) -> None:
        self._directory = directory
        self._clock = clock
        self._timezone = timezone
        self._llm = llm
        self._tariff = tariff

    async def stream(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        if request.resume is not None:
            async for event in self._resume(request.resume):
                yield event
            return
        intent = read_intent(request.question)
        analysis = _Analysis(tz=ZoneInfo(self._timezone))
        if intent.needs_analysis:
            params = request.analysis or plan_analysis(
                request.question, self._clock(), self._timezone
            )
            analysis.label, analysis.tz = params.window_label, ZoneInfo(params.timezone)
            async for event in self._delegate(request, intent, params, analysis):
                yield event
            if analysis.failure is not None:
                failure = analysis.failure
                yield ErrorEvent(agent=self.name, code=failure.code, message=failure.message)
                return
        plan = self._plan(request, intent, analysis)
        if plan.drafts:
            yield StatusEvent(
                agent=self.name,
                stage=Stage.PROPOSING,
                message=f"Drafted {len(plan.drafts)} automation proposal"
                f"{'' if len(plan.drafts) == 1 else 's'} from the findings "
                "(validated against Home Assistant's automation schema and your entities)",
                data={"proposals": [draft.id for draft in plan.drafts]},
            )
            for draft in plan.drafts:
                yield ProposalEvent(agent=self.name, proposal=draft)
        written: list[str] = []
        async for event in self._write(request, intent, analysis, plan, written):
            yield event
            if isinstance(event, ErrorEvent):
                return
        for event in self._tail(plan, written):
            yield event

    def _plan(self, request: AgentRequest, intent: Intent, analysis: _Analysis) -> _Plan:
        wish = proposal_wish(request.question)
        drafts: list[ProposalDraft] = []
        if (wish.draft or wish.apply) and analysis.findings:
            inputs = DraftingInputs(analysis.findings, analysis.entity_names, self._tariff)
            drafts = _mentioned(draft_proposals(inputs), request.question, analysis.entity_names)
        asked: list[ProposalBrief] = []
        if wish.apply:
            asked = [_brief(draft) for draft in drafts] or _earlier(request)
        return _Plan(drafts=drafts, asked=asked, wish=wish)

    def _tail(self, plan: _Plan, written: list[str]) -> list[AgentEvent]:
        """The proposals section and the question, after the narration; then the last event."""
        tail = ""
        if plan.drafts:
            tail += proposals_section(plan.drafts, asking=bool(plan.asked))
        elif plan.wish.apply and not plan.asked:
            tail += NOTHING_TO_SET_UP
        if plan.asked:
            tail += ("\n" if tail else "") + approval_question(plan.asked)
        tail = _separated("".join(written), tail)
        events: list[AgentEvent] = [
            TextDelta(agent=self.name, text=piece) for piece in _PIECES.findall(tail)
        ]
        written.append(tail)
        if plan.asked:
            events.append(
                InputRequiredEvent(
                    agent=self.name,
                    question=approval_question(plan.asked),
                    proposal_ids=[brief.id for brief in plan.asked],
                )
            )
        else:
            events.append(FinalEvent(agent=self.name, text="".join(written)))
        return events

    async def _resume(self, resume: ResumeInput) -> AsyncGenerator[AgentEvent, None]:
        """The user answered this task's question; the caller has applied the answer."""
        yield StatusEvent(
            agent=self.name,
            stage=Stage.WRITING,
            message=f"Continuing task {resume.task_id} with your answer "
            f"({resume.decision or 'not understood'})",
            data={"task_id": resume.task_id, "decision": resume.decision},
        )
        waiting = [
            ProposalBrief(id=o.proposal_id, title=o.title, status=o.status)
            for o in resume.outcomes
            if o.status is ProposalStatus.PROPOSED
        ] or [
            ProposalBrief(id=pid, title=pid, status=ProposalStatus.PROPOSED)
            for pid in resume.proposal_ids
        ]
        if resume.decision is None and waiting:
            text = reask_text(waiting)
            for piece in _PIECES.findall(text):
                yield TextDelta(agent=self.name, text=piece)
            yield InputRequiredEvent(
                agent=self.name,
                question=approval_question(waiting),
                proposal_ids=[brief.id for brief in waiting],
            )
            return
        text = outcome_text(resume)
        for piece in _PIECES.findall(text):
            yield TextDelta(agent=self.name, text=piece)
        yield FinalEvent(agent=self.name, text=text)

    async def _delegate(
        self,
        request: AgentRequest,
        intent: Intent,
        params: AnalysisParams,
        into: _Analysis,
    ) -> AsyncGenerator[AgentEvent, None]:
        """Streams the team's progress; their findings and names (or error) are left in `into`."""
        yield StatusEvent(
            agent=self.name,
            stage=Stage.HANDOFF,
            message=f"Handing off to the DS orchestrator ({', '.join(intent.analysts())})",
            data={"target": AgentName.DS_ORCHESTRATOR.value},
        )
        sub_request = AgentRequest(
            run_id=request.run_id,
            agent=AgentName.DS_ORCHESTRATOR,
            question=request.question,
            analysis=params,
            analysts=intent.analysts(),
        )
        client = self._directory.client_for(ServiceName.DS_ORCHESTRATOR)
        async for event in client.stream(sub_request):
            if isinstance(event, StatusEvent | UsageEvent):
                yield event
            elif isinstance(event, FindingsEvent):
                into.findings.extend(event.findings)
                into.entity_names.update(event.entity_names)
                yield event
            elif isinstance(event, ErrorEvent) and into.failure is None:
                into.failure = event

    async def _write(
        self,
        request: AgentRequest,
        intent: Intent,
        analysis: _Analysis,
        plan: _Plan,
        written: list[str],
    ) -> AsyncGenerator[AgentEvent, None]:
        """The narration as text deltas (collected in `written`); an ErrorEvent ends it."""
        if self._llm is not None and not _applying_earlier(intent, plan):
            try:
                async for event in self._write_with_llm(
                    self._llm, request, analysis, plan, written
                ):
                    yield event
                return
            except LLMError as exc:
                if written:
                    yield ErrorEvent(agent=self.name, code="llm_error", message=str(exc))
                    return
                log.warning("LLM unavailable, answering with the offline writer: %s", exc)
                yield self._writing_status(f"LLM unavailable ({exc}); writing offline")
        else:
            yield self._writing_status("Writing the answer from the findings (offline writer)")
        text = _offline_text(request.question, intent, analysis, plan)
        written.append(text)
        for piece in _PIECES.findall(text):
            yield TextDelta(agent=self.name, text=piece)

    async def _write_with_llm(
        self,
        llm: LLMClient,
        request: AgentRequest,
        analysis: _Analysis,
        plan: _Plan,
        written: list[str],
    ) -> AsyncGenerator[AgentEvent, None]:
        yield self._writing_status(f"Writing the answer with {llm.model}")
        messages = [ChatMessage(role="system", content=architect_system_prompt())]
        if analysis.findings:
            context = findings_context(
                analysis.findings,
                analysis.label,
                entity_names=analysis.entity_names,
                tz=analysis.tz,
            )
            messages.append(ChatMessage(role="system", content=context))
        if plan.drafts:
            messages.append(ChatMessage(role="system", content=_proposals_note(plan.drafts)))
        messages.extend(ChatMessage(role=t.role, content=t.content) for t in request.history)
        messages.append(ChatMessage(role="user", content=request.question))
        async for delta in llm.stream(messages):
            if delta.text:
                written.append(delta.text)
                yield TextDelta(agent=self.name, text=delta.text)
            if delta.usage is not None:
                yield UsageEvent(
                    agent=self.name,
                    prompt_tokens=delta.usage.prompt_tokens,
                    completion_tokens=delta.usage.completion_tokens,
                )
        # The downloads, as the offline writer lists them: the model may not link them.
        downloads = _separated("".join(written), artifacts_line(analysis.findings))
        if downloads:
            written.append(downloads)
            yield TextDelta(agent=self.name, text=downloads)

    def _writing_status(self, message: str) -> StatusEvent:
        return StatusEvent(agent=self.name, stage=Stage.WRITING, message=message)


def _offline_text(question: str, intent: Intent, analysis: _Analysis, plan: _Plan) -> str:
    if _applying_earlier(intent, plan):
        return applying_text(plan.asked)
    if intent.smalltalk:
        return write_greeting() if len(question) < 20 else write_capabilities()
    if not intent.needs_analysis:
        return write_capabilities()
    return write_answer(
        question,
        analysis.findings,
        analysis.label,
        entity_names=analysis.entity_names,
        tz=analysis.tz,
    )


def _separated(before: str, tail: str) -> str:
    """`tail` as a paragraph of its own after `before`."""
    if not tail or not before or before.endswith("\n\n"):
        return tail
    return ("\n" if before.endswith("\n") else "\n\n") + tail


def _applying_earlier(intent: Intent, plan: _Plan) -> bool:
    """The user asks to apply proposals of an earlier answer: nothing to analyse or narrate."""
    return bool(plan.asked) and not plan.drafts and not intent.needs_analysis


def _proposals_note(drafts: Sequence[ProposalDraft]) -> str:
    titles = "; ".join(draft.title for draft in drafts)
    return (
        f"Aether drafted {len(drafts)} Home Assistant automation proposals from these findings "
        f"({titles}). They are listed after your answer with their ids, reasons and savings: do "
        "not list them again or invent others, and never say that anything was changed; you may "
        "refer to them in one sentence."
    )


def _brief(draft: ProposalDraft) -> ProposalBrief:
    return ProposalBrief(
        id=draft.id, title=draft.title, status=ProposalStatus.PROPOSED, entities=draft.entities
    )


def _earlier(request: AgentRequest) -> list[ProposalBrief]:
    """The conversation's waiting proposals the question is about: those it names by id or by
    device, else all of them."""
    waiting = [p for p in request.proposals if p.status is ProposalStatus.PROPOSED]
    named = set(mentioned_ids(request.question, [p.id for p in waiting]))
    if named:
        return [p for p in waiting if p.id in named]
    text = request.question.lower()
    by_device = [p for p in waiting if any(_named_in(text, e, "") for e in p.entities)]
    return by_device or waiting


def _mentioned(
    drafts: list[ProposalDraft], question: str, names: dict[str, str]
) -> list[ProposalDraft]:
    """The drafts about a device the question names, or all of them when it names none."""
    text = question.lower()
    named = [
        draft
        for draft in drafts
        if any(_named_in(text, entity_id, names.get(entity_id, "")) for entity_id in draft.entities)
    ]
    return named or drafts


def _named_in(text: str, entity_id: str, name: str) -> bool:
    object_words = entity_id.split(".", 1)[-1].replace("_", " ")
    friendly = name.lower()
    return object_words in text or (bool(friendly) and friendly in text)
