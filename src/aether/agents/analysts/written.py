"""LLM-written analyses: for a question the built-in analyses do not cover, the LLM writes a script
that runs as the analyst's job in the same sandbox, on the same input files, and must produce an
`AnalysisResult`; its error goes back to the LLM once for a corrected script.

The script is untrusted code by construction, so it gets nothing a built-in analysis does not:
the job's Parquet frame and JSON metadata as read-only files, the job's policy, and a result that
is validated like any other (size, schema, analyst). The conversation with the LLM lives here;
the sandbox only runs the job (`sandbox/written.py` is its job side).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Final, Protocol

from aether.agents.analysts.coverage import UncoveredAsk
from aether.agents.analysts.events import sandbox_job, status
from aether.agents.contract import AgentEvent, AgentName, Stage, UsageEvent
from aether.analysis.findings import AnalysisResult, Evidence, Finding
from aether.llm.client import LLMClient
from aether.llm.errors import LLMError
from aether.llm.messages import ChatMessage, LLMCompletion
from aether.sandbox.jobs import AnalysisJob, JobOutcome, SandboxError, SandboxJobFailed
from aether.sandbox.runner import Runner

_CODE: Final = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.S)
FEEDBACK_CHARS: Final = 2000
ANSWER_IMPORTANCE: Final = 0.95
"""Written findings answer the question itself, so they lead the ranking."""
FAILED_KIND: Final = "written_analysis_failed"

CONTRACT: Final = """You write one Python 3 script that answers a question about a household's \
energy data. It runs in a sandbox without network; only the standard library, numpy, pandas and \
pyarrow are installed. Its working directory holds:
- input/frame.parquet: the readings, columns entity_id (string), timestamp (UTC), value (float, \
NaN when the state is not numeric) and state (string); read it with pandas.read_parquet.
- input/entities.json: per entity id, its friendly_name, unit, device_class and state_class.
- input/params.json: window_start and window_end (ISO 8601, UTC), timezone and window_label.
- input/analyst.json: the analyst name to report as.
The script must write output/result.json, a JSON object: {"analyst": <the analyst name>, \
"confidence": <0..1>, "findings": [{"analyst": <the analyst name>, "kind": <snake_case name>, \
"title": <short title>, "summary": <one or two sentences with the figures, units and period>, \
"confidence": <0..1>, "metrics": [{"name": ..., "value": <number>, "unit": ...}]}]}.
It may also write charts (.png, .svg) and tables (.csv, .json) to output/. Print little. Answer \
with the script only, in one ```python block."""


class ScriptAuthor(Protocol):
    """Writes a script for a conversation (the configured LLM)."""

    @property
    def model(self) -> str: ...

    async def write(self, messages: list[ChatMessage]) -> LLMCompletion: ...


class LLMAuthor:
    """The configured LLM as script author, deterministic (temperature 0)."""

    def __init__(self, llm: LLMClient) -> None:
        self._llm = llm

    @property
    def model(self) -> str:
        return self._llm.model

    async def write(self, messages: list[ChatMessage]) -> LLMCompletion:
        return await self._llm.complete(messages, temperature=0)


@dataclass
class WrittenRun:
    """What the written analysis gave: the validated outcome, or why there is none."""

    outcome: JobOutcome | None = None
    failure: str | None = None
    scripts: list[str] = field(default_factory=list)


async def run_written_analysis(
    runner: Runner,
    author: ScriptAuthor,
    agent: AgentName,
    question: str,
    ask: UncoveredAsk,
    job: AnalysisJob,
    into: WrittenRun,
) -> AsyncGenerator[AgentEvent, None]:
    """Ask for a script, run it, feed a failure back once; the outcome or the last failure is
    left in `into`. Streams what it does; never raises for a failing script or LLM."""
    messages = [
        ChatMessage(role="system", content=CONTRACT),
        ChatMessage(role="user", content=script_request(question, job)),
    ]
    policy = runner.policies.for_depth(job.params.depth)
    for attempt in (1, 2):
        yield status(
            agent,
            Stage.ANALYST_STARTED,
            f'No built-in analysis computes {ask.ask} ("{ask.words}"): asking {author.model} '
            f"for an analysis script (attempt {attempt} of 2)",
            written=True,
            ask=ask.ask,
            attempt=attempt,
        )
        try:
            completion = await author.write(messages)
        except LLMError as exc:
            into.failure = f"the LLM could not write the script: {exc}"
            return
        yield UsageEvent(
            agent=agent,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
        )
        script = extract_script(completion.text)
        into.scripts.append(script)
        yield sandbox_job(
            agent,
            runner.name,
            policy,
            f"the {job.analyst} analysis script written by {author.model}",
            written=True,
            attempt=attempt,
            script_sha256=_sha256(script),
        )
        try:
            into.outcome = await runner.run(with_script(job, script))
            into.failure = None
            return
        except (SandboxError, ValueError) as exc:
            into.failure = str(exc)
            detail = exc.stderr_tail if isinstance(exc, SandboxJobFailed) else ""
        if attempt == 1:
            yield status(
                agent,
                Stage.ANALYST_RETRY,
                f"The written script failed ({into.failure}); asking for a corrected one",
                written=True,
                error=into.failure,
            )
            messages += [
                ChatMessage(role="assistant", content=completion.text),
                ChatMessage(role="user", content=feedback(into.failure, detail)),
            ]
    into.failure = f"the script failed after one correction: {into.failure}"


def written_findings(run: WrittenRun, job: AnalysisJob, ask: UncoveredAsk) -> list[Finding]:
    """The written result's findings, marked as written and ranked first; or one finding that
    says the question could not be answered, and why."""
    outcome = run.outcome
    if outcome is None:
        return [failed_finding(run.failure or "no script was written", job, ask)]
    provenance = Evidence(
        description=f"Computed by an analysis script written by the LLM for this question "
        f"({ask.ask}), run in the {outcome.runner} sandbox under the {job.params.depth} policy",
        data={
            "written": True,
            "attempts": len(run.scripts),
            "script_sha256": _sha256(run.scripts[-1]) if run.scripts else None,
        },
    )
    return [
        finding.model_copy(
            update={
                "importance": max(finding.importance, ANSWER_IMPORTANCE),
                "evidence": [provenance, *finding.evidence],
            }
        )
        for finding in outcome.result.findings
    ]


def failed_finding(reason: str, job: AnalysisJob, ask: UncoveredAsk) -> Finding:
    return Finding(
        analyst=job.analyst,
        kind=FAILED_KIND,
        title="The question could not be computed",
        summary=f'No built-in analysis computes {ask.ask} ("{ask.words}"), and the analysis '
        f"written for it failed: {reason}",
        confidence=0.0,
        importance=ANSWER_IMPORTANCE,
        evidence=[Evidence(description=reason, data={"written": True, "error": reason})],
        period_start=job.params.window_start,
        period_end=job.params.window_end,
    )


def merged(builtin: AnalysisResult, written: list[Finding]) -> AnalysisResult:
    """The built-in result with the written findings first; its confidence stays the built-in
    one, which the orchestrator's retries judge."""
    return builtin.model_copy(update={"findings": [*written, *builtin.findings]})


def with_script(job: AnalysisJob, script: str) -> AnalysisJob:
    """The same job with the script to run; ValueError (a ValidationError) when it is too long."""
    return AnalysisJob(
        analyst=job.analyst,
        params=job.params,
        entities=job.entities,
        frame=job.frame,
        script=script,
    )


def extract_script(reply: str) -> str:
    """The first fenced code block, or the whole reply when there is none."""
    match = _CODE.search(reply)
    return (match.group(1) if match else reply).strip() + "\n"


def script_request(question: str, job: AnalysisJob) -> str:
    entities = "\n".join(
        f"- {meta.entity_id}: {meta.friendly_name or ''} ({meta.unit or 'no unit'}, "
        f"{meta.device_class or 'no device class'}, {meta.state_class or 'no state class'})"
        for meta in job.entities.values()
    )
    return (
        f"Question: {question}\nAnalyst: {job.analyst}\nWindow: {job.params.window_label} "
        f"({job.params.window_start.isoformat()} to {job.params.window_end.isoformat()}, "
        f"{job.params.timezone})\nEntities:\n{entities}"
    )


def feedback(failure: str, stderr_tail: str) -> str:
    text = f"The script failed: {failure}\n{stderr_tail}".strip()[-FEEDBACK_CHARS:]
    return f"{text}\nReturn the corrected script, in one ```python block."


def _sha256(script: str) -> str:
    return hashlib.sha256(script.encode()).hexdigest()
