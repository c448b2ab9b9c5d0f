"""What a job process is given: its limits and its environment."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from aether.sandbox import process
from aether.sandbox.process import THREAD_CAPS, ProcessLimits, job_environment


def test_limits_follow_the_job_settings() -> None:
    limits = ProcessLimits.for_job(memory_limit_mb=512, timeout_seconds=2.5, file_bytes=1024)

    assert limits.memory_bytes == 512 * 1024 * 1024
    assert limits.cpu_seconds == 4
    assert limits.file_bytes == 1024


def test_rlimits_set_soft_and_hard_with_a_cpu_grace_second() -> None:
    limits = ProcessLimits(memory_bytes=1 << 30, cpu_seconds=5, file_bytes=1 << 20, processes=64)

    rlimits = dict(limits.rlimits())

    assert rlimits[resource.RLIMIT_AS] == (1 << 30, 1 << 30)
    assert rlimits[resource.RLIMIT_CPU] == (5, 6)
    assert rlimits[resource.RLIMIT_FSIZE] == (1 << 20, 1 << 20)
    assert rlimits[resource.RLIMIT_NPROC] == (64, 64)


def test_rlimits_never_exceed_the_hard_limits_already_in_force(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(process.resource, "getrlimit", lambda kind: (10, 20))
    limits = ProcessLimits(memory_bytes=1 << 30, cpu_seconds=5, file_bytes=1 << 20, processes=64)

    assert all(soft <= 20 and hard <= 20 for _, (soft, hard) in limits.rlimits())


def test_the_environment_holds_no_variable_of_the_parent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLM_API_KEY", "sk-secret")
    monkeypatch.setenv("PYTHONPATH", "/somewhere")

    environment = job_environment(tmp_path)

    assert set(environment) == {"PATH", "LANG", "HOME", *THREAD_CAPS}
    assert environment["HOME"] == str(tmp_path)
