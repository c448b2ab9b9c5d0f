"""The seams between analysts and isolation: analysts hold a `Runner` and never know which one;
the runtime opens a `SandboxRunner` (lifecycle, health text, script jobs) and hands it to them."""

from __future__ import annotations

from typing import Protocol

from aether.sandbox.jobs import AnalysisJob, JobOutcome
from aether.sandbox.policy import Policies
from aether.sandbox.scripts import ScriptJob, ScriptOutcome


class Runner(Protocol):
    name: str
    """Short name of the isolation (`gvisor`, `subprocess`), reported on every outcome."""
    policies: Policies
    """The limits a job gets, per depth; analysts report the ones their job runs under."""

    async def run(self, job: AnalysisJob) -> JobOutcome:
        """Run the job to completion; raise a `SandboxError` when it yields no valid result."""
        ...


class SandboxRunner(Runner, Protocol):
    description: str
    """One line for /health: the isolation and, for a fallback, why gVisor is not used."""

    async def start(self) -> None:
        """Get ready to serve (a gVisor runner starts filling its warm pool)."""
        ...

    async def aclose(self) -> None:
        """Stop serving and leave nothing behind (no sandbox, no job directory)."""
        ...

    async def run_script(self, job: ScriptJob) -> ScriptOutcome:
        """Run a script job; raise a `SandboxError` when it fails, with the reason."""
        ...
