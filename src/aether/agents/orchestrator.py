"""The DS orchestrator: runs the analysts a question needs, retries weak results, ranks findings."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
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
)
from aether.agents.intent import read_intent
from aether.agents.planning import Clock, plan_analysis
from aether.analysis.findings import AnalysisParams, AnalystName, Finding
from aether.llm.offline_writer import write_answer

log = logging.getLogger(__name__)

_AGENT_OF: dict[AnalystName, AgentName] = {
    "energy": AgentName.ENERGY_ANALYST,
    "behavioral": AgentName.BEHAVIORAL_ANALYST,
    "diagnostic": AgentName.DIAGNOSTIC_ANALYST,
}
ALL_ANALYSTS: list[AnalystName] = ["energy", "behavioral", "diagnostic"]


@dataclass(frozen=True)
class RetryPolicy:
    """Below `min_confidence` an analyst runs again with a wider gap tolerance, a bounded
    number of times: sparse data is the usual cause of a weak result."""

    min_confidence: float = 0.6
    max_retries: int = 2
    gap_factor: float = 4.0


@dataclass
class _Attempt:
    findings: list[Finding]
    confidence: float
    error: ErrorEvent | None = None
    entity_names: dict[str, str] = field(default_factory=dict)


class DSOrchestrator:
    name = AgentName.DS_ORCHESTRATOR

    def __init__(
        self,
        directory: AgentDirectory,
        clock: Clock,
        timezone: str,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._directory = directory
        self._clock = clock
        self._timezone = timezone
        self._retry = retry or RetryPolicy()

    async def stream(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        params = request.analysis or plan_analysis(request.question, self._clock(), self._timezone)
        analysts = request.analysts or read_intent(request.question).analysts() or ALL_ANALYSTS
        yield self._status(
            Stage.PLANNING,
            f"Analysing {params.window_label} with the {', '.join(analysts)} analyst(s)",
            analysts=list(analysts),
        )
        results: list[_Attempt] = []
        for analyst in analysts:
            result = _Attempt(findings=[], confidence=0.0)
            async for event in self._run_with_retries(request, analyst, params, result):
                yield event
            results.append(result)
        failed = [a.error for a in results if a.error is not None]
        if failed and len(failed) == len(results):
            yield ErrorEvent(agent=self.name, code=failed[0].code, message=failed[0].message)
            return
        findings = synthesise([f for a in results for f in a.findings])
        confidence = min((a.confidence for a in results if a.error is None), default=0.0)
        names = {eid: name for a in results for eid, name in a.entity_names.items()}
        yield FindingsEvent(
            agent=self.name, findings=findings, confidence=confidence, entity_names=names
        )
        text = write_answer(
            request.question,
            findings,
            params.window_label,
            entity_names=names,
            tz=ZoneInfo(params.timezone),
        )
        yield TextDelta(agent=self.name, text=text)
        yield FinalEvent(agent=self.name, text=text)

    async def _run_with_retries(
        self, request: AgentRequest, analyst: AnalystName, params: AnalysisParams, into: _Attempt
    ) -> AsyncGenerator[AgentEvent, None]:
        """Streams the analyst's progress; its last attempt's outcome is left in `into`."""
        attempt = into
        for number in range(self._retry.max_retries + 1):
            if number:
                params = params.model_copy(
                    update={"max_gap_minutes": params.max_gap_minutes * self._retry.gap_factor}
                )
                yield self._status(
                    Stage.ANALYST_RETRY,
                    f"{analyst} analyst confidence {attempt.confidence:.2f} is below "
                    f"{self._retry.min_confidence:.2f}; retrying with a gap tolerance of "
                    f"{params.max_gap_minutes:.0f} min (attempt {number + 1})",
                    analyst=analyst,
                    attempt=number + 1,
                )
            attempt.findings, attempt.confidence, attempt.error = [], 0.0, None
            attempt.entity_names = {}
            async for event in self._call_analyst(request, analyst, params, attempt):
                yield event
            if attempt.error is not None or attempt.confidence >= self._retry.min_confidence:
                break

    async def _call_analyst(
        self, request: AgentRequest, analyst: AnalystName, params: AnalysisParams, into: _Attempt
    ) -> AsyncGenerator[AgentEvent, None]:
        target = _AGENT_OF[analyst]
        yield self._status(Stage.HANDOFF, f"Handing off to the {target.value}", target=target)
        sub_request = AgentRequest(
            run_id=request.run_id, agent=target, question=request.question, analysis=params
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
            elif isinstance(event, StatusEvent):
                yield event

    def _status(self, stage: Stage, message: str, **data: object) -> StatusEvent:
        return StatusEvent(agent=self.name, stage=stage, message=message, data=data)


def synthesise(findings: list[Finding]) -> list[Finding]:
    """Drop repeats (same kind about the same entities; the most confident wins) and rank by
    importance weighted with confidence, so the answer leads with what matters most."""
    best: dict[tuple[object, ...], Finding] = {}
    for finding in findings:
        key = (
            finding.kind,
            tuple(sorted(finding.entities)),
            finding.period_start,
            finding.period_end,
        )
        if key not in best or finding.confidence > best[key].confidence:
            best[key] = finding
    return sorted(
        best.values(), key=lambda f: f.importance * (0.5 + f.confidence / 2), reverse=True
    )
