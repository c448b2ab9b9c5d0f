"""Policies per depth: quick is smaller, deep larger, and the ceiling covers them all."""

from __future__ import annotations

import pytest

from aether.sandbox.policy import Policies


def test_policies_scale_from_the_standard_one() -> None:
    policies = Policies.scaled(timeout_seconds=60, memory_mb=2048)

    assert (policies.quick.timeout_seconds, policies.quick.memory_mb) == (20, 1024)
    assert (policies.standard.timeout_seconds, policies.standard.memory_mb) == (60, 2048)
    assert (policies.deep.timeout_seconds, policies.deep.memory_mb) == (180, 4096)
    assert policies.deep.cpus == 2


def test_a_quick_job_keeps_time_to_start_but_never_more_than_standard() -> None:
    assert Policies.scaled(timeout_seconds=9, memory_mb=512).quick.timeout_seconds == 5
    assert Policies.scaled(timeout_seconds=2, memory_mb=512).quick.timeout_seconds == 2
    assert Policies.scaled(timeout_seconds=2, memory_mb=256).quick.memory_mb == 256


def test_each_depth_has_its_policy() -> None:
    policies = Policies.scaled(timeout_seconds=30, memory_mb=1024)

    assert [policy.depth for policy in policies.all()] == ["quick", "standard", "deep"]
    assert policies.for_depth("deep") is policies.deep


def test_the_ceiling_is_the_largest_of_every_limit() -> None:
    policies = Policies.scaled(timeout_seconds=30, memory_mb=1024)

    ceiling = policies.ceiling

    assert ceiling.timeout_seconds == 90
    assert ceiling.memory_mb == 2048
    assert ceiling.cpus == 2
    assert ceiling.processes == max(p.processes for p in policies.all())


def test_a_policy_describes_itself_in_one_line() -> None:
    policy = Policies.scaled(timeout_seconds=30, memory_mb=1024).quick

    assert policy.describe() == "quick: 10 s, 512 MiB, 1 CPU, 32 tasks"


def test_a_policy_lists_its_limits_for_the_runs_events() -> None:
    policies = Policies.scaled(timeout_seconds=30, memory_mb=1024)

    assert policies.deep.limits() == {
        "wall_time_seconds": 90.0,
        "memory_mb": 2048,
        "cpus": 2.0,
        "processes": 32,
        "file_size_mb": 16,
    }
    assert policies.quick.limits()["wall_time_seconds"] == 10.0


def test_a_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Policies.scaled(timeout_seconds=0, memory_mb=1024)
