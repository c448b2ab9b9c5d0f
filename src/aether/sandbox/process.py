"""Start one confined, bounded process and make sure nothing of it outlives the call.

The process gets a scrubbed environment, rlimits, its own session (so its whole process group can
be killed) and files for stdout and stderr: pipes would deadlock or, under gVisor, be cut at 64 KiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import resource
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aether.sandbox.jobs import SandboxError, SandboxTimeout
from aether.sandbox.layout import JobDir

THREAD_CAPS: Final = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
"""Under RLIMIT_AS every thread's stack and malloc arena counts, and OpenBLAS would otherwise start
one thread per core at import: on a large host that alone exhausts the job's address space."""


@dataclass(frozen=True)
class ProcessLimits:
    memory_bytes: int
    cpu_seconds: int
    file_bytes: int
    processes: int
    """RLIMIT_NPROC counts every task of the user, threads and the service's own included, and
    does not apply to root: a brake on fork bombs, not a per-job quota."""

    @classmethod
    def for_job(
        cls, memory_limit_mb: int, timeout_seconds: float, file_bytes: int, processes: int = 256
    ) -> ProcessLimits:
        """The CPU limit sits just above the wall-clock timeout, which normally fires first."""
        return cls(
            memory_bytes=memory_limit_mb * 1024 * 1024,
            cpu_seconds=math.ceil(timeout_seconds) + 1,
            file_bytes=file_bytes,
            processes=processes,
        )

    def rlimits(self) -> list[tuple[int, tuple[int, int]]]:
        """(resource, (soft, hard)) pairs, never above the current hard limits, which an
        unprivileged process could not raise. The CPU hard limit is one second above the soft one:
        SIGXCPU first, then SIGKILL."""
        wanted = [
            (resource.RLIMIT_AS, self.memory_bytes, self.memory_bytes),
            (resource.RLIMIT_CPU, self.cpu_seconds, self.cpu_seconds + 1),
            (resource.RLIMIT_FSIZE, self.file_bytes, self.file_bytes),
            (resource.RLIMIT_NPROC, self.processes, self.processes),
        ]
        return [(kind, _capped(kind, soft, hard)) for kind, soft, hard in wanted]


@dataclass(frozen=True)
class ProcessResult:
    returncode: int
    duration_seconds: float


def job_environment(job_dir: Path) -> dict[str, str]:
    """Only what a Python process needs: no secret of the service reaches the job."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
        "HOME": str(job_dir),
        **THREAD_CAPS,
    }


async def run_process(
    argv: Sequence[str], job_dir: JobDir, timeout_seconds: float, limits: ProcessLimits
) -> ProcessResult:
    """Run `argv` in `job_dir` until it exits. On timeout (SandboxTimeout) or cancellation the
    process group is killed before this returns, and stragglers are killed after a normal exit."""
    started = time.monotonic()
    with job_dir.stdout.open("wb") as stdout, job_dir.stderr.open("wb") as stderr:
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=job_dir.root,
                env=job_environment(job_dir.root),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
                preexec_fn=_limiter(limits.rlimits()),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise SandboxError(f"cannot start the analysis job: {exc}") from exc
    try:
        returncode = await asyncio.wait_for(process.wait(), timeout_seconds)
    except TimeoutError:
        raise SandboxTimeout(timeout_seconds) from None
    finally:
        kill_group(process.pid)
        if process.returncode is None:
            await process.wait()
    return ProcessResult(returncode=returncode, duration_seconds=time.monotonic() - started)


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _capped(kind: int, soft: int, hard: int) -> tuple[int, int]:
    _, current_hard = resource.getrlimit(kind)
    if current_hard == resource.RLIM_INFINITY:
        return soft, hard
    return min(soft, current_hard), min(hard, current_hard)


def _limiter(rlimits: list[tuple[int, tuple[int, int]]]) -> Callable[[], None]:
    """Runs in the child between fork and exec, so it only calls setrlimit with values computed
    beforehand in the parent."""

    def apply() -> None:
        for kind, values in rlimits:
            resource.setrlimit(kind, values)

    return apply
