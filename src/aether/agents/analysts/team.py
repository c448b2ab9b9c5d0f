"""The DS analysts (energy, behavioral, diagnostic): one service, one agent per analyst.

Each call loads the window's data once, runs the analyst's pure analysis through the sandbox
runner (data in as files, findings out as JSON), and streams what it did. When an LLM is
configured and the question asks for something no built-in analysis computes (`coverage.py`),
the lead analyst also runs an analysis the LLM writes for it (`written.py`) on the same files;
its findings come first, and a script that fails twice becomes a finding that says why.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from zoneinfo import ZoneInfo

from aether.agents.analysts.coverage import UncoveredAsk, lead_analyst, uncovered_ask
from aether.agents.analysts.events import artifact_links, sandbox_job, status
from aether.agents.analysts.written import (
    LLMAuthor,
    ScriptAuthor,
    WrittenRun,
    merged,
    run_written_analysis,
    written_findings,
)
from aether.agents.contract import (
    ANALYST_AGENTS,
    AgentEvent,
    AgentRequest,
    ErrorEvent,
    FinalEvent,
    FindingsEvent,
    Stage,
    TextDelta,
)
from aether.agents.planning import Clock, plan_analysis
from aether.analysis.findings import AnalysisParams, AnalystName
from aether.analysis.tariff import Tariff
from aether.data.errors import DataSourceError
from aether.data.loading import load_for_analysis
from aether.data.source import DataSource
from aether.llm.client import LLMClient
from aether.llm.offline_writer import write_answer
from aether.sandbox.jobs import AnalysisJob, SandboxError
from aether.sandbox.runner import Runner

log = logging.getLogger(__name__)


class AnalystTeam:
    """Serves the three analyst agents; they share the data source and the runner."""

    def __init__(
        self,
        source: DataSource,
        runner: Runner,
        clock: Clock,
        timezone: str,
        tariff: Tariff | None = None,
        llm: LLMClient | None = None,
    ) -> None:
        """Without `llm` only the built-in analyses run."""
        self._source = source
        self._runner = runner
        self._clock = clock
        self._timezone = timezone
        self._tariff = tariff
        self._author: ScriptAuthor | None = None if llm is None else LLMAuthor(llm)

    async def stream(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        analyst = ANALYST_AGENTS.get(request.agent)
        if analyst is None:
            yield ErrorEvent(
                agent=request.agent,
                code="unknown_analyst",
                message=f"{request.agent.value} is not one of the DS analysts.",
            )
            return
        params = request.analysis or plan_analysis(request.question, self._clock(), self._timezone)
        if params.tariff is None and self._tariff is not None:
            params = params.model_copy(update={"tariff": self._tariff})
        agent = request.agent
        yield status(agent, Stage.ANALYST_STARTED, f"{analyst} analysis of {params.window_label}")
        try:
            job = await self._job(analyst, params)
        except DataSourceError as exc:
            log.warning(
                "%s analysis could not load data on run %s: %s", analyst, request.run_id, exc
            )
            yield ErrorEvent(agent=agent, code=f"data_source_{exc.code}", message=str(exc))
            return
        yield status(
            agent,
            Stage.DATA_LOADED,
            f"Loaded {len(job.frame)} states of {len(job.entities)} entities",
            states=len(job.frame),
            entities=len(job.entities),
        )
        yield sandbox_job(
            agent,
            self._runner.name,
            self._runner.policies.for_depth(params.depth),
            f"the {analyst} analysis",
            max_gap_minutes=params.max_gap_minutes,
        )
        try:
            outcome = await self._runner.run(job)
        except SandboxError as exc:
            log.warning("%s analysis failed on run %s: %s", analyst, request.run_id, exc)
            yield ErrorEvent(agent=agent, code="analysis_failed", message=str(exc))
            return
        result = outcome.result
        artifacts = list(outcome.artifacts)
        ask = self._uncovered(request, analyst)
        if ask is not None and self._author is not None:
            written = WrittenRun()
            async for event in run_written_analysis(
                self._runner, self._author, agent, request.question, ask, job, written
            ):
                yield event
            if written.failure is not None:
                log.warning(
                    "written analysis failed on run %s: %s", request.run_id, written.failure
                )
            result = merged(result, written_findings(written, job, ask))
            artifacts += written.outcome.artifacts if written.outcome is not None else []
        yield FindingsEvent(
            agent=agent,
            analyst=analyst,
            findings=result.findings,
            confidence=result.confidence,
            entity_names=result.entity_names,
        )
        yield status(
            agent,
            Stage.ANALYST_FINISHED,
            f"{analyst} analysis done: {len(result.findings)} findings, confidence "
            f"{result.confidence:.2f}, {outcome.duration_seconds:.2f} s"
            + (f", {len(artifacts)} charts and tables" if artifacts else ""),
            findings=len(result.findings),
            confidence=result.confidence,
            seconds=round(outcome.duration_seconds, 3),
            artifacts=artifact_links(artifacts),
        )
        text = write_answer(
            request.question,
            result.findings,
            params.window_label,
            entity_names=result.entity_names,
            tz=ZoneInfo(params.timezone),
        )
        yield TextDelta(agent=agent, text=text)
        yield FinalEvent(agent=agent, text=text)

    async def _job(self, analyst: AnalystName, params: AnalysisParams) -> AnalysisJob:
        data = await load_for_analysis(self._source, params)
        return AnalysisJob(analyst=analyst, params=params, frame=data.frame, entities=data.entities)

    def _uncovered(self, request: AgentRequest, analyst: AnalystName) -> UncoveredAsk | None:
        """What the question asks that no built-in analysis computes, when this analyst leads
        the team that answers it (a direct call: the analyst alone)."""
        if self._author is None:
            return None
        team = request.analysts or [analyst]
        if lead_analyst(request.question, team) != analyst:
            return None
        return uncovered_ask(request.question)
