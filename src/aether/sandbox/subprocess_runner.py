"""The process fallback: each job is a plain child process with rlimits, a timeout and a scrubbed
environment. It bounds resources but is no security boundary against the service's own user:
the job sees the host's files and network. gVisor is that boundary."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final, TypeVar

from aether.sandbox.artifacts import ArtifactSink, keep_artifacts, link_artifacts
from aether.sandbox.jobfiles import collect_result, write_inputs
from aether.sandbox.jobs import AnalysisJob, JobOutcome, SandboxLimitExceeded, SandboxTimeout
from aether.sandbox.layout import JOB_MODULE, SCRIPT_MODULE, JobDir
from aether.sandbox.policy import Policies, SandboxPolicy
from aether.sandbox.process import ProcessLimits, ProcessResult, run_process
from aether.sandbox.quota import breach
from aether.sandbox.scripts import ScriptJob, ScriptOutcome, collect_script, write_script_inputs

MAX_RESULT_BYTES: Final = 5 * 1024 * 1024
MAX_FILE_BYTES: Final = 16 * 1024 * 1024
"""Largest file the job may write (result, error, its stderr): a larger write fails with EFBIG,
or SIGXFSZ kills the job."""

T = TypeVar("T")


class SubprocessRunner:
    name = "subprocess"

    def __init__(
        self,
        work_dir: Path,
        timeout_seconds: float = 60.0,
        memory_limit_mb: int = 2048,
        python: str = sys.executable,
        max_result_bytes: int = MAX_RESULT_BYTES,
        policies: Policies | None = None,
        description: str = "subprocess",
        artifacts: ArtifactSink | None = None,
    ) -> None:
        """`policies` default to ones scaled from `timeout_seconds` and `memory_limit_mb`;
        `artifacts` receives the tables and charts of analysis jobs."""
        self.artifacts = artifacts
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self.work_dir = work_dir
        self.policies = policies or Policies.scaled(timeout_seconds, memory_limit_mb)
        self.timeout_seconds = self.policies.standard.timeout_seconds
        self.python = python
        self.max_result_bytes = max_result_bytes
        self.description = description
        self.limits = self._limits(self.policies.standard)

    async def start(self) -> None:
        """Nothing to prepare: a child process starts in milliseconds."""

    async def aclose(self) -> None:
        """Nothing to drain: every job removes its own directory."""

    async def run(self, job: AnalysisJob) -> JobOutcome:
        policy = self.policies.for_depth(job.params.depth)

        async def collect(job_dir: JobDir, process: ProcessResult) -> JobOutcome:
            result = await asyncio.to_thread(
                collect_result,
                job_dir,
                process.returncode,
                job.analyst,
                self.max_result_bytes,
                policy,
            )
            refs = await keep_artifacts(job_dir.output, self.artifacts)
            return JobOutcome(
                result=link_artifacts(result, refs),
                duration_seconds=process.duration_seconds,
                runner=self.name,
                artifacts=refs,
            )

        _, outcome = await self._run(
            JOB_MODULE,
            policy,
            lambda job_dir: asyncio.to_thread(write_inputs, job, job_dir),
            collect,
        )
        return outcome

    async def run_script(self, job: ScriptJob) -> ScriptOutcome:
        policy = self.policies.for_depth(job.depth)
        _, outcome = await self._run(
            SCRIPT_MODULE,
            policy,
            lambda job_dir: asyncio.to_thread(write_script_inputs, job, job_dir),
            lambda job_dir, process: asyncio.to_thread(
                collect_script,
                job_dir,
                process.returncode,
                policy,
                process.duration_seconds,
                self.name,
            ),
        )
        return outcome

    async def _run(
        self,
        module: str,
        policy: SandboxPolicy,
        write: Callable[[JobDir], Awaitable[None]],
        collect: Callable[[JobDir, ProcessResult], Awaitable[T]],
    ) -> tuple[ProcessResult, T]:
        """One fresh directory per job, removed afterwards whatever happened."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        job_dir = JobDir(Path(tempfile.mkdtemp(prefix="job-", dir=self.work_dir)))
        writing = asyncio.ensure_future(write(job_dir))
        try:
            await asyncio.shield(writing)
            try:
                process = await run_process(
                    [self.python, "-I", "-m", module, str(job_dir.root)],
                    job_dir,
                    policy.timeout_seconds,
                    self._limits(policy),
                )
            except SandboxTimeout:
                raise SandboxTimeout(policy.timeout_seconds, _subject(module)) from None
            reason = await asyncio.to_thread(breach, job_dir, policy, _subject(module))
            if reason is not None:
                raise SandboxLimitExceeded(reason)
            return process, await collect(job_dir, process)
        finally:
            # A thread cannot be interrupted: let a cancelled write finish before removing its
            # directory, or the removal races with it.
            await asyncio.wait({writing})
            await asyncio.to_thread(shutil.rmtree, job_dir.root, ignore_errors=True)

    def _limits(self, policy: SandboxPolicy) -> ProcessLimits:
        return ProcessLimits.for_job(policy.memory_mb, policy.timeout_seconds, MAX_FILE_BYTES)


def _subject(module: str) -> str:
    return "script" if module == SCRIPT_MODULE else "analysis"
