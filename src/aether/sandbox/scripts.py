"""Script jobs: a Python script and its input files, run in the same sandbox as the analyses.

`aether sandbox run` and LLM-written analyses use them. The script is a file in the read-only
input directory, its data are files beside it (never spliced into the source), and what comes
back (standard output, `output/result.json`, other output files) is read with the same bounded,
defensive reads as an analysis result.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aether.analysis.findings import AnalysisDepth
from aether.sandbox.jobfiles import job_failure, read_capped, stderr_tail
from aether.sandbox.jobs import MAX_SCRIPT_CHARS, SandboxOutputInvalid
from aether.sandbox.layout import SCRIPT_FILE, JobDir
from aether.sandbox.policy import SandboxPolicy

INPUT_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
RESULT_FILE: Final = "result.json"
ERROR_FILE: Final = "error.json"


class ScriptJob(BaseModel):
    model_config = ConfigDict(frozen=True)

    script: str = Field(max_length=MAX_SCRIPT_CHARS)
    inputs: dict[str, bytes] = Field(default_factory=dict)
    """File name in `input/` -> content."""
    depth: AnalysisDepth = "standard"

    @field_validator("inputs")
    @classmethod
    def _plain_names(cls, inputs: dict[str, bytes]) -> dict[str, bytes]:
        for name in inputs:
            if not INPUT_NAME.fullmatch(name) or name == SCRIPT_FILE:
                raise ValueError(
                    f"input name {name!r} must be a plain file name (letters, digits, '.', '_', "
                    f"'-') other than {SCRIPT_FILE}"
                )
        return inputs


class OutputFile(BaseModel):
    name: str
    size: int
    sha256: str


class ScriptOutcome(BaseModel):
    stdout: str
    stderr_tail: str
    result: Any = None
    """The JSON the script wrote to `output/result.json`, if it wrote one."""
    files: list[OutputFile] = Field(default_factory=list)
    """Every regular file the script left in `output/`, result.json included."""
    duration_seconds: float = Field(ge=0)
    runner: str


def write_script_inputs(job: ScriptJob, job_dir: JobDir) -> None:
    job_dir.create()
    job_dir.script.write_text(job.script, encoding="utf-8")
    for name, content in job.inputs.items():
        (job_dir.input / name).write_bytes(content)


def collect_script(
    job_dir: JobDir, returncode: int, policy: SandboxPolicy, duration_seconds: float, runner: str
) -> ScriptOutcome:
    """What the script produced; SandboxJobFailed when it exited unsuccessfully."""
    if returncode != 0:
        raise job_failure(job_dir, returncode, subject="script", policy=policy)
    stdout = read_capped(job_dir.stdout, policy.stdout_bytes) or b""
    result_bytes = read_capped(job_dir.output / RESULT_FILE, policy.max_result_bytes)
    try:
        result = None if result_bytes is None else json.loads(result_bytes)
    except ValueError:
        raise SandboxOutputInvalid(f"the script's {RESULT_FILE} is not valid JSON") from None
    return ScriptOutcome(
        stdout=stdout.decode("utf-8", errors="replace"),
        stderr_tail=stderr_tail(job_dir.stderr),
        result=result,
        files=output_files(job_dir.output, policy.file_bytes),
        duration_seconds=duration_seconds,
        runner=runner,
    )


def output_files(directory: Path, max_bytes: int) -> list[OutputFile]:
    """Top-level regular files only: whatever else the script made is not returned."""
    files: list[OutputFile] = []
    with os.scandir(directory) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name == ERROR_FILE or not entry.is_file(follow_symlinks=False):
                continue
            content = read_capped(Path(entry.path), max_bytes) or b""
            files.append(
                OutputFile(
                    name=entry.name,
                    size=len(content),
                    sha256=hashlib.sha256(content).hexdigest(),
                )
            )
    return files
