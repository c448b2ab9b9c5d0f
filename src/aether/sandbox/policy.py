"""What a job may use, per analysis depth: the DS orchestrator picks the depth, the runner the
policy.

A quick question should fail fast and small, a deep one may take longer and more memory; the
limits that protect the host (no network, the read-only root, the output quota) do not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, get_args

from aether.analysis.findings import AnalysisDepth

MIB: Final = 1024 * 1024

QUICK_TIMEOUT_FLOOR_SECONDS: Final = 5.0
"""A quick job still has to start an interpreter and read its inputs."""


@dataclass(frozen=True)
class SandboxPolicy:
    depth: AnalysisDepth
    timeout_seconds: float
    """Wall-clock limit; the runner kills the sandbox when it passes."""
    memory_mb: int
    """Address-space limit of the job (RLIMIT_AS inside the sandbox)."""
    cpus: float = 1.0
    """CPU quota of the sandbox where host cgroups are available (gVisor as root)."""
    processes: int = 32
    """Tasks (processes and threads) the job may have at once: a fork bomb stops here. An
    analysis uses three (the interpreter, pyarrow's and OpenBLAS's threads)."""
    file_bytes: int = 16 * MIB
    """Largest single file the job may write."""
    max_result_bytes: int = 5 * MIB
    stdout_bytes: int = 64 * 1024
    """More standard output than this fails the job: analyses report through files."""
    output_bytes: int = 32 * MIB
    """Everything the job writes to its output and log directories together."""
    output_files: int = 64
    tmpfs_mb: int = 64
    """Size of the job's private /tmp (in memory, gone with the sandbox)."""

    def limits(self) -> dict[str, float | int]:
        """The limits a person asks about, for the run's events: what the job may use."""
        return {
            "wall_time_seconds": self.timeout_seconds,
            "memory_mb": self.memory_mb,
            "cpus": self.cpus,
            "processes": self.processes,
            "file_size_mb": self.file_bytes // MIB,
        }

    def describe(self) -> str:
        return (
            f"{self.depth}: {self.timeout_seconds:g} s, {self.memory_mb} MiB, "
            f"{self.cpus:g} CPU, {self.processes} tasks"
        )


@dataclass(frozen=True)
class Policies:
    """One policy per depth. The ceiling is what a warm sandbox is started with before its job
    (and so its depth) is known; the job then lowers its own limits to its policy."""

    quick: SandboxPolicy
    standard: SandboxPolicy
    deep: SandboxPolicy

    @classmethod
    def scaled(cls, timeout_seconds: float, memory_mb: int) -> Policies:
        """Standard gets the settings as they are; quick a third of the time and half the
        memory, deep three times the time, twice the memory and two CPUs."""
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        return cls(
            quick=SandboxPolicy(
                depth="quick",
                timeout_seconds=min(
                    timeout_seconds, max(timeout_seconds / 3, QUICK_TIMEOUT_FLOOR_SECONDS)
                ),
                memory_mb=max(256, memory_mb // 2),
            ),
            standard=SandboxPolicy(
                depth="standard", timeout_seconds=timeout_seconds, memory_mb=memory_mb
            ),
            deep=SandboxPolicy(
                depth="deep", timeout_seconds=timeout_seconds * 3, memory_mb=memory_mb * 2, cpus=2.0
            ),
        )

    def for_depth(self, depth: AnalysisDepth) -> SandboxPolicy:
        policy: SandboxPolicy = getattr(self, depth)
        return policy

    def all(self) -> list[SandboxPolicy]:
        return [self.for_depth(depth) for depth in get_args(AnalysisDepth)]

    @property
    def ceiling(self) -> SandboxPolicy:
        """The largest limit of every kind, for sandboxes started before their job is known."""
        policies = self.all()
        return SandboxPolicy(
            depth="deep",
            timeout_seconds=max(p.timeout_seconds for p in policies),
            memory_mb=max(p.memory_mb for p in policies),
            cpus=max(p.cpus for p in policies),
            processes=max(p.processes for p in policies),
            file_bytes=max(p.file_bytes for p in policies),
            max_result_bytes=max(p.max_result_bytes for p in policies),
            stdout_bytes=max(p.stdout_bytes for p in policies),
            output_bytes=max(p.output_bytes for p in policies),
            output_files=max(p.output_files for p in policies),
            tmpfs_mb=max(p.tmpfs_mb for p in policies),
        )
