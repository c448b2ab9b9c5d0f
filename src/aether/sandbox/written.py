"""LLM-written analyses: for a question the built-in analyses do not cover, an LLM writes a script
that runs in the same sandbox, on the same input files, and must produce an `AnalysisResult`.

The script is untrusted code by construction, so it gets nothing a built-in analysis does not:
the job's Parquet frame and JSON metadata as read-only files, the job's policy, and a result that
is validated like any other (size, schema, analyst). When the first script fails (it raised, hit
a limit, or wrote an invalid result) its error goes back to the LLM once for a corrected script.
"""

from __future__ import annotations

import io
import re
from typing import Final, Protocol

from pydantic import TypeAdapter, ValidationError

from aether.analysis.findings import AnalysisResult, AnalystName
from aether.analysis.schema import EntityMeta
from aether.llm.client import LLMClient
from aether.llm.messages import ChatMessage
from aether.sandbox.jobs import AnalysisJob, SandboxError, SandboxJobFailed, SandboxOutputInvalid
from aether.sandbox.runner import SandboxRunner
from aether.sandbox.scripts import ScriptJob

_ENTITIES: TypeAdapter[dict[str, EntityMeta]] = TypeAdapter(dict[str, EntityMeta])
_ANALYST: TypeAdapter[AnalystName] = TypeAdapter(AnalystName)
_CODE: Final = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.S)
FEEDBACK_CHARS: Final = 2000

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
    """Writes a script for a conversation (an LLM, or a stand-in in tests)."""

    async def write(self, messages: list[ChatMessage]) -> str: ...


class LLMAuthor:
    """The configured LLM as script author, deterministic (temperature 0)."""

    def __init__(self, llm: LLMClient) -> None:
        self._llm = llm

    async def write(self, messages: list[ChatMessage]) -> str:
        return (await self._llm.complete(messages, temperature=0)).text


async def run_written_analysis(
    runner: SandboxRunner, author: ScriptAuthor, question: str, job: AnalysisJob
) -> AnalysisResult:
    """The validated result of the LLM's script, after at most one correction; SandboxError
    (with the last failure's reason) when the corrected script fails too. LLMError passes."""
    messages = [
        ChatMessage(role="system", content=CONTRACT),
        ChatMessage(role="user", content=_question(question, job)),
    ]
    inputs = job_inputs(job)
    failure: SandboxError | None = None
    for attempt in (1, 2):
        reply = await author.write(messages)
        script = extract_script(reply)
        try:
            outcome = await runner.run_script(
                ScriptJob(script=script, inputs=inputs, depth=job.params.depth)
            )
            return validated(outcome.result, job.analyst)
        except SandboxError as exc:
            failure = exc
        if attempt == 1:
            messages += [
                ChatMessage(role="assistant", content=reply),
                ChatMessage(role="user", content=_feedback(failure)),
            ]
    raise SandboxError(f"the LLM-written analysis failed after one correction: {failure}")


def job_inputs(job: AnalysisJob) -> dict[str, bytes]:
    """The same files an analysis job gets, as contents for a script job."""
    frame = io.BytesIO()
    job.frame.to_parquet(frame, index=False)
    return {
        "frame.parquet": frame.getvalue(),
        "entities.json": _ENTITIES.dump_json(job.entities),
        "params.json": job.params.model_dump_json().encode(),
        "analyst.json": _ANALYST.dump_json(job.analyst),
    }


def extract_script(reply: str) -> str:
    """The first fenced code block, or the whole reply when there is none."""
    match = _CODE.search(reply)
    return (match.group(1) if match else reply).strip() + "\n"


def validated(result: object, analyst: AnalystName) -> AnalysisResult:
    if result is None:
        raise SandboxOutputInvalid("the script exited without writing output/result.json")
    try:
        parsed = AnalysisResult.model_validate(result)
    except ValidationError as exc:
        raise SandboxOutputInvalid(
            f"the script's result.json is not a valid analysis result: {exc.errors()[0]['msg']} "
            f"at {'.'.join(map(str, exc.errors()[0]['loc']))}"
        ) from None
    if parsed.analyst != analyst or any(f.analyst != analyst for f in parsed.findings):
        raise SandboxOutputInvalid(f"the script's result must be reported as analyst {analyst!r}")
    return parsed


def _question(question: str, job: AnalysisJob) -> str:
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


def _feedback(failure: SandboxError | None) -> str:
    detail = failure.stderr_tail if isinstance(failure, SandboxJobFailed) else ""
    text = f"The script failed: {failure}\n{detail}".strip()[-FEEDBACK_CHARS:]
    return f"{text}\nReturn the corrected script, in one ```python block."
