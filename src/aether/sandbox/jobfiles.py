"""The runner's side of the job directory: write a job's inputs, turn its outputs into a result.

The outputs were written by untrusted code, so every read is bounded, never follows a symlink and
never blocks on a FIFO, and nothing of their content reaches a message unless it validated.
"""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path
from typing import Final

from pydantic import TypeAdapter, ValidationError

from aether.analysis.findings import AnalysisResult, AnalystName
from aether.analysis.schema import EntityMeta
from aether.sandbox.jobs import AnalysisJob, SandboxJobFailed, SandboxOutputInvalid
from aether.sandbox.layout import JobDir, JobError
from aether.sandbox.policy import SandboxPolicy

MAX_ERROR_BYTES: Final = 64 * 1024
STDERR_TAIL_BYTES: Final = 2000
STDERR_TAIL_LINES: Final = 12

_ANALYST: TypeAdapter[AnalystName] = TypeAdapter(AnalystName)
_ENTITIES: TypeAdapter[dict[str, EntityMeta]] = TypeAdapter(dict[str, EntityMeta])

_SIGNAL_HINTS: Final = {
    signal.SIGKILL: "killed (memory exhausted, or stopped by the runner)",
    signal.SIGXCPU: "killed at its CPU time limit",
    signal.SIGXFSZ: "killed at its file size limit",
    signal.SIGSEGV: "crashed (segmentation fault)",
    signal.SIGABRT: "aborted (often an allocation failure in native code)",
}


def write_inputs(job: AnalysisJob, job_dir: JobDir) -> None:
    job_dir.create()
    job.frame.to_parquet(job_dir.frame, index=False)
    job_dir.entities.write_bytes(_ENTITIES.dump_json(job.entities))
    job_dir.params.write_text(job.params.model_dump_json(), encoding="utf-8")
    job_dir.analyst.write_bytes(_ANALYST.dump_json(job.analyst))
    if job.script is not None:
        job_dir.script.write_text(job.script, encoding="utf-8")


def collect_result(
    job_dir: JobDir,
    returncode: int,
    analyst: AnalystName,
    max_result_bytes: int,
    policy: SandboxPolicy | None = None,
) -> AnalysisResult:
    """The job's validated result; SandboxJobFailed when it exited unsuccessfully."""
    if returncode != 0:
        raise job_failure(job_dir, returncode, policy=policy)
    return read_result(job_dir, analyst, max_result_bytes)


def read_result(job_dir: JobDir, analyst: AnalystName, max_bytes: int) -> AnalysisResult:
    data = read_capped(job_dir.result, max_bytes)
    if data is None:
        raise SandboxOutputInvalid("the analysis job exited without writing a result")
    try:
        result = AnalysisResult.model_validate_json(data)
    except ValidationError as exc:
        raise SandboxOutputInvalid(
            f"the analysis job wrote an invalid result ({exc.error_count()} validation errors)"
        ) from None
    if result.analyst != analyst or any(f.analyst != analyst for f in result.findings):
        raise SandboxOutputInvalid(
            f"the analysis job answered for analyst {result.analyst!r}, not {analyst!r}"
        )
    return result


def job_failure(
    job_dir: JobDir,
    returncode: int,
    *,
    subject: str = "analysis",
    policy: SandboxPolicy | None = None,
) -> SandboxJobFailed:
    """A short, user-safe message: the job's own error report when there is one, else how the
    process ended. The stderr tail goes on the exception for logs only. `subject` names the
    kind of job; the `policy`, when known, names the limit an error typically comes from."""
    error = _read_error(job_dir)
    if error is not None:
        message = f"{subject} failed: {error.type}"
        if error.message:
            message += f": {error.message}"
        if policy is not None:
            message += _limit_hint(error, policy)
    elif returncode < 0:
        message = f"{subject} job {_signal_description(-returncode)}"
    else:
        message = f"{subject} job exited with status {returncode}"
    return SandboxJobFailed(
        message,
        returncode=returncode,
        error_type=error.type if error else None,
        stderr_tail=stderr_tail(job_dir.stderr),
    )


def stderr_tail(path: Path) -> str:
    try:
        fd = _open_regular(path)
    except (OSError, SandboxOutputInvalid):
        return ""
    with os.fdopen(fd, "rb") as file:
        size = os.fstat(fd).st_size
        file.seek(max(0, size - STDERR_TAIL_BYTES))
        text = file.read(STDERR_TAIL_BYTES).decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-STDERR_TAIL_LINES:])


def read_capped(path: Path, max_bytes: int) -> bytes | None:
    """The file's content, None when it does not exist; SandboxOutputInvalid above `max_bytes`."""
    try:
        fd = _open_regular(path)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as file:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SandboxOutputInvalid(f"the analysis job's {path.name} exceeds {max_bytes} bytes")
    return data


def _open_regular(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError:
        raise SandboxOutputInvalid(f"the analysis job's {path.name} is not a file") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SandboxOutputInvalid(f"the analysis job's {path.name} is not a regular file")
    return fd


def _read_error(job_dir: JobDir) -> JobError | None:
    try:
        data = read_capped(job_dir.error, MAX_ERROR_BYTES)
        return None if data is None else JobError.model_validate_json(data)
    except (SandboxOutputInvalid, ValidationError):
        return None


def _limit_hint(error: JobError, policy: SandboxPolicy) -> str:
    if error.type == "MemoryError":
        return f" (the job's memory limit is {policy.memory_mb} MiB)"
    if error.type == "BlockingIOError" and "temporarily unavailable" in error.message:
        return f" (the job's limit is {policy.processes} processes and threads)"
    if "File too large" in error.message:
        return f" (the job's file size limit is {policy.file_bytes // (1024 * 1024)} MiB)"
    return ""


def _signal_description(number: int) -> str:
    try:
        sig = signal.Signals(number)
    except ValueError:
        return f"killed by signal {number}"
    return f"{_SIGNAL_HINTS.get(sig, 'killed')} ({sig.name})"
