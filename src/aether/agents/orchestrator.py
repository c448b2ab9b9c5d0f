"""The DS orchestrator: picks the analysts a question needs, runs them, retries weak results with
adjusted parameters, and synthesises one ranked list of findings.

Every decision is a status event of the run: which analysts and why (the router's scores), each
attempt with its parameters, each outcome against the retry threshold, each retry and the
adjustment chosen, which attempt was kept, and what the synthesis did (duplicates, cross-checks
with the diagnostic analyst, conflicts). See `retry.py` and `synthesis.py` for the rules.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final
from zoneinfo import ZoneInfo

from aether.agents.contract import (
    AgentDirectory,
    AgentEvent,
    AgentName,
    AgentRequest,
    ErrorEvent,
    FinalEvent,
    FindingsEvent,
    ServiceName,
    Stage,
    StatusEvent,
    TextDelta,
    UsageEvent,
)
from aether.agents.intent import ORDER, SELECT_THRESHOLD, read_intent
from aether.agents.planning import Clock, plan_analysis
from aether.agents.retry import Outcome, RetryPolicy, next_attempt
from aether.agents.synthesis import Synthesis, synthesis
from aether.analysis.findings import AnalysisDepth, AnalysisParams, AnalystName, Finding
from aether.analysis.tariff import Tariff
from aether.llm.offline_writer import write_answer

log = logging.getLogger(__name__)

__all__ = ["ALL_ANALYSTS", "DSOrchestrator", "RetryPolicy"]

_AGENT_OF: dict[AnalystName, AgentName] = {
    "energy": AgentName.ENERGY_ANALYST,
    "behavioral": AgentName.BEHAVIORAL_ANALYST,
    "diagnostic": AgentName.DIAGNOSTIC_ANALYST,
}
ALL_ANALYSTS: list[AnalystName] = list(ORDER)

_DEEP_WORDS = re.compile(
    r"\b(everything|all of it|in[ -]depth|deep|thorough(ly)?|detailed|full|complete)\b", re.I
)
QUICK_MAX_DAYS: Final = 2.0
DEEP_MIN_DAYS: Final = 31.0


def choose_depth(
    request: AgentRequest, params: AnalysisParams, analysts: list[AnalystName]
) -> tuple[AnalysisDepth, str]:
    """The sandbox policy for this question, with the reason: deep when asked for everything or
    for more than a month, quick for one analyst over a day or two, standard otherwise. A depth
    the caller set on the analysis parameters is kept."""
    if request.analysis is not None and "depth" in request.analysis.model_fields_set:
        return request.analysis.depth, "set by the caller"
    days = (params.window_end - params.window_start) / timedelta(days=1)
    if _DEEP_WORDS.search(request.question):
        return "deep", "the question asks for a full analysis"
    if days > DEEP_MIN_DAYS:
        return "deep", f"the window is {days:.0f} days"
    if len(analysts) == 1 and days <= QUICK_MAX_DAYS:
        return "quick", f"one analyst over {days:.0f} day(s)"
    return "standard", f"{len(analysts)} analyst(s) over {days:.0f} day(s)"


@dataclass
class _Attempt:
    number: int
    params: AnalysisParams
    findings: list[Finding] = field(default_factory=list)
    confidence: float = 0.0
    error: ErrorEvent | None = None
    entity_names: dict[str, str] = field(default_factory=dict)


@dataclass
class _Run:
    """One analyst's attempts; `best` is the one whose findings are used."""

    analyst: AnalystName
    attempts: list[_Attempt] = field(default_factory=list)

    @property
    def best(self) -> _Attempt | None:
        usable = [a for a in self.attempts if a.error is None]
        return max(usable, key=lambda a: (a.confidence, -a.number), default=None)

    @property
    def error(self) -> ErrorEvent | None:
        return None if self.best is not None or not self.attempts else self.attempts[-1].error


class DSOrchestrator:
    name = AgentName.DS_ORCHESTRATOR

    def __init__(
        self,
        directory: AgentDirectory,
        clock: Clock,
        timezone: str,
        retry: RetryPolicy | None = None,
        tariff: Tariff | None = None,
    ) -> None:
        self._directory = directory
        self._clock = clock
        self._timezone = timezone
        self._retry = retry or RetryPolicy()
        self._tariff = tariff

    async def stream(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        params = request.analysis or plan_analysis(request.question, self._clock(), self._timezone)
        if params.tariff is None and self._tariff is not None:
            params = params.model_copy(update={"tariff": self._tariff})
        analysts, planning = self._choose(request)
        depth, why = choose_depth(request, params, analysts)
        params = params.model_copy(update={"depth": depth})
        yield planning.model_copy(
            update={
                "message": f"{planning.message}; depth {depth}: {why}",
                "data": {**planning.data, "depth": depth, "depth_reason": why},
            }
        )
        runs: list[_Run] = []
        # Each analyst learns the team, so only the lead one has an analysis written for a
        # question the built-in analyses do not cover.
        team_request = request.model_copy(update={"analysts": analysts})
        for analyst in analysts:
            run = _Run(analyst)
            async for event in self._run_with_retries(team_request, run, params):
                yield event
            runs.append(run)
        failed = [r.error for r in runs if r.error is not None]
        if failed and len(failed) == len(runs):
            yield ErrorEvent(agent=self.name, code=failed[0].code, message=failed[0].message)
            return
        best = [a for r in runs if (a := r.best) is not None]
        result = synthesis([f for a in best for f in a.findings])
        yield self._synthesised(result)
        confidence = min((a.confidence for a in best), default=0.0)
        names = {eid: name for a in best for eid, name in a.entity_names.items()}
        yield FindingsEvent(
            agent=self.name, findings=result.findings, confidence=confidence, entity_names=names
        )
        text = write_answer(
            request.question,
            result.findings,
            params.window_label,
            entity_names=names,
            tz=ZoneInfo(params.timezone),
        )
        yield TextDelta(agent=self.name, text=text)
        yield FinalEvent(agent=self.name, text=text)

    def _choose(self, request: AgentRequest) -> tuple[list[AnalystName], StatusEvent]:
        """The analysts to run and the decision as an event: the caller's choice when given,
        else the router's pick, else (no topic recognised) the whole team."""
        intent = read_intent(request.question)
        scores = {a: intent.scores.get(a, 0.0) for a in ORDER}
        if request.analysts:
            chosen, why, conf = list(request.analysts), "requested by the caller", 1.0
        elif intent.needs_analysis:
            chosen, why, conf = intent.analysts(), "picked by the router", intent.confidence
        else:
            chosen, why, conf = list(ALL_ANALYSTS), "no topic recognised: the whole team", 0.0
        message = (
            f"Running the {', '.join(chosen)} analyst(s), {why} (confidence {conf:.2f}; "
            f"router scores: {intent.explain()}; threshold {SELECT_THRESHOLD:.2f})"
        )
        event = self._status(
            Stage.PLANNING,
            message,
            analysts=list(chosen),
            reason=why,
            confidence=conf,
            scores=scores,
            words={a: intent.topics.get(a, []) for a in ORDER},
        )
        return chosen, event

    async def _run_with_retries(
        self, request: AgentRequest, run: _Run, params: AnalysisParams
    ) -> AsyncGenerator[AgentEvent, None]:
        """Attempts until one is confident enough, nothing is left to adjust, or the policy's
        limit is reached; every outcome and decision is streamed."""
        tried: set[str] = set()
        policy = self._retry
        for number in range(1, policy.max_retries + 2):
            attempt = _Attempt(number, params)
            run.attempts.append(attempt)
            async for event in self._call_analyst(request, run.analyst, attempt):
                yield event
            if attempt.error is not None:
                return
            if attempt.confidence >= policy.min_confidence:
                yield self._decision(run, f"confidence {attempt.confidence:.2f} is enough")
                return
            adjustment = None
            if number <= policy.max_retries:
                outcome = Outcome(attempt.confidence, attempt.findings)
                adjustment = next_attempt(run.analyst, params, outcome, tried, policy)
            if adjustment is None:
                why = "no retries left" if number > policy.max_retries else "nothing left to adjust"
                yield self._decision(run, f"confidence {attempt.confidence:.2f} is low; {why}")
                return
            tried.add(adjustment.kind)
            params = adjustment.params
            yield self._status(
                Stage.ANALYST_RETRY,
                f"{run.analyst} analyst confidence {attempt.confidence:.2f} is below "
                f"{policy.min_confidence:.2f}; retrying with {adjustment.reason} "
                f"(attempt {number + 1} of at most {policy.max_retries + 1})",
                analyst=run.analyst,
                attempt=number + 1,
                confidence=attempt.confidence,
                threshold=policy.min_confidence,
                adjustment=adjustment.kind,
                max_gap_minutes=params.max_gap_minutes,
                window_start=params.window_start.isoformat(),
                focus_entities=list(params.focus_entities),
            )

    def _decision(self, run: _Run, why: str) -> StatusEvent:
        best = run.best
        kept = 0 if best is None else best.number
        return self._status(
            Stage.ANALYST_FINISHED,
            f"{run.analyst} analyst: {why}; keeping attempt {kept} of {len(run.attempts)}"
            + ("" if best is None else f" (confidence {best.confidence:.2f})"),
            analyst=run.analyst,
            attempts=len(run.attempts),
            kept_attempt=kept,
            confidence=None if best is None else best.confidence,
            threshold=self._retry.min_confidence,
        )

    async def _call_analyst(
        self, request: AgentRequest, analyst: AnalystName, into: _Attempt
    ) -> AsyncGenerator[AgentEvent, None]:
        target = _AGENT_OF[analyst]
        params = into.params
        yield self._status(
            Stage.HANDOFF,
            f"Handing off to the {target.value} (attempt {into.number}: "
            f"{params.window_label}, gap tolerance {params.max_gap_minutes:g} min)",
            target=target,
            analyst=analyst,
            attempt=into.number,
            max_gap_minutes=params.max_gap_minutes,
            window_start=params.window_start.isoformat(),
            window_end=params.window_end.isoformat(),
            focus_entities=list(params.focus_entities),
        )
        sub_request = AgentRequest(
            run_id=request.run_id,
            agent=target,
            question=request.question,
            analysis=params,
            analysts=request.analysts,
            attempt=into.number,
        )
        client = self._directory.client_for(ServiceName.DS_ANALYSTS)
        async for event in client.stream(sub_request):
            if isinstance(event, FindingsEvent):
                into.findings, into.confidence = event.findings, event.confidence
                into.entity_names = event.entity_names
            elif isinstance(event, ErrorEvent):
                into.error = event
                yield self._status(
                    Stage.ANALYST_FINISHED, f"{target.value} failed: {event.message}"
                )
            elif isinstance(event, StatusEvent | UsageEvent):
                yield event

    def _status(self, stage: Stage, message: str, **data: object) -> StatusEvent:
        return StatusEvent(agent=self.name, stage=stage, message=message, data=data)

    def _synthesised(self, result: Synthesis) -> StatusEvent:
        """What the synthesis decided, as one event."""
        top = [f"{f.analyst}/{f.kind}" for f in result.findings[:5]]
        parts = [f"{len(result.findings)} findings ranked by impact (top: {', '.join(top)})"]
        if result.duplicates:
            parts.append(f"{result.duplicates} duplicate(s) dropped")
        if result.cross_references:
            parts.append(f"{len(result.cross_references)} cross-check(s) with the diagnostics")
        if result.conflicts:
            parts.append("conflicts: " + "; ".join(result.conflicts))
        return self._status(
            Stage.WRITING,
            "Synthesis: " + "; ".join(parts),
            duplicates=result.duplicates,
            cross_references=result.cross_references,
            conflicts=result.conflicts,
            ranking=top,
        )
