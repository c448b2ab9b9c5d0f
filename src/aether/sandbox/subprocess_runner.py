"""The process fallback: each job is a plain child process with rlimits, a timeout and a scrubbed
environment. It bounds resources but is no security boundary against the service's own user;
gVisor is that boundary."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Final

from aether.sandbox.jobfiles import collect_result, write_inputs
from aether.sandbox.jobs import AnalysisJob, JobOutcome
from aether.sandbox.layout import JOB_MODULE, JobDir
from aether.sandbox.process import ProcessLimits, run_process

MAX_RESULT_BYTES: Final = 5 * 1024 * 1024
MAX_FILE_BYTES: Final = 16 * 1024 * 1024
"""Largest file the job may write (result, error, its stderr): a larger write fails with EFBIG,
or SIGXFSZ kills the job."""


class SubprocessRunner:
    name = "subprocess"

    def __init__(
        self,
        work_dir: Path,
        timeout_seconds: float,
        memory_limit_mb: int = 2048,
        python: str = sys.executable,
        max_result_bytes: int = MAX_RESULT_BYTES,
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self.work_dir = work_dir
        self.timeout_seconds = timeout_seconds
        self.python = python
        self.max_result_bytes = max_result_bytes
        self.limits = ProcessLimits.for_job(memory_limit_mb, timeout_seconds, MAX_FILE_BYTES)

    async def run(self, job: AnalysisJob) -> JobOutcome:
        """One fresh directory per job, removed afterwards whatever happened."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        job_dir = JobDir(Path(tempfile.mkdtemp(prefix="job-", dir=self.work_dir)))
        writing = asyncio.ensure_future(asyncio.to_thread(write_inputs, job, job_dir))
        try:
            await asyncio.shield(writing)
            process = await run_process(
                [self.python, "-I", "-m", JOB_MODULE, str(job_dir.root)],
                job_dir,
                self.timeout_seconds,
                self.limits,
            )
            result = await asyncio.to_thread(
                collect_result, job_dir, process.returncode, job.analyst, self.max_result_bytes
            )
        finally:
            # A thread cannot be interrupted: let a cancelled write finish before removing its
            # directory, or the removal races with it.
            await asyncio.wait({writing})
            await asyncio.to_thread(shutil.rmtree, job_dir.root, ignore_errors=True)
        return JobOutcome(
            result=result, duration_seconds=process.duration_seconds, runner=self.name
        )
