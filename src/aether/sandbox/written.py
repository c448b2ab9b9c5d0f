"""The job's side of a written analysis: a script (written by an LLM for a question the built-in
analyses do not cover) runs on the analysis job's own input files, and its `output/result.json`
must be an `AnalysisResult` for the job's analyst.

Runs inside the sandbox, like `job_main`, which calls it when the job's input holds a script; the
runner validates the result again, since everything here runs beside untrusted code. A failure
is an exception whose message is precise enough for the script's author to correct the script.
"""

from __future__ import annotations

from typing import Final

from pydantic import TypeAdapter, ValidationError

from aether.analysis.findings import AnalysisResult, AnalystName
from aether.sandbox.layout import JobDir
from aether.sandbox.script_main import run_script

MAX_RESULT_BYTES: Final = 5 * 1024 * 1024

_ANALYST: TypeAdapter[AnalystName] = TypeAdapter(AnalystName)


class WrittenResultInvalid(ValueError):
    """The script ran but its result is missing or not a valid analysis result."""


def run_written(job_dir: JobDir) -> AnalysisResult | int:
    """The script's validated result, or its exit status when it failed (then its error report,
    if any, is in `output/error.json`)."""
    status = run_script(job_dir)
    if status != 0:
        return status
    return written_result(job_dir)


def written_result(job_dir: JobDir) -> AnalysisResult:
    analyst = _ANALYST.validate_json(job_dir.analyst.read_bytes())
    try:
        with job_dir.result.open("rb") as file:
            data = file.read(MAX_RESULT_BYTES + 1)
    except FileNotFoundError:
        raise WrittenResultInvalid("the script exited without writing output/result.json") from None
    if len(data) > MAX_RESULT_BYTES:
        raise WrittenResultInvalid(f"output/result.json exceeds {MAX_RESULT_BYTES} bytes")
    return checked(data, analyst)


def checked(data: bytes, analyst: AnalystName) -> AnalysisResult:
    """`data` as an AnalysisResult reported as `analyst`, every finding too."""
    try:
        result = AnalysisResult.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "the top level"
        raise WrittenResultInvalid(
            f"output/result.json is not a valid analysis result: {first['msg']} at {where} "
            f"({exc.error_count()} error(s))"
        ) from None
    if result.analyst != analyst or any(f.analyst != analyst for f in result.findings):
        raise WrittenResultInvalid(
            f"output/result.json must report the analyst {analyst!r}, in every finding too"
        )
    return result
