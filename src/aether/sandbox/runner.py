"""The seam between analysts and isolation: analysts hold a `Runner` and never know which one."""

from __future__ import annotations

from typing import Protocol

from aether.sandbox.jobs import AnalysisJob, JobOutcome


class Runner(Protocol):
    name: str
    """Short name of the isolation, reported in health checks and on every outcome."""

    async def run(self, job: AnalysisJob) -> JobOutcome:
        """Run the job to completion; raise a `SandboxError` when it yields no valid result."""
        ...
