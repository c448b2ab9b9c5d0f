"""The output quota as measured from the host."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from aether.sandbox.layout import JobDir
from aether.sandbox.policy import Policies
from aether.sandbox.quota import breach, measure

POLICY = replace(
    Policies.scaled(timeout_seconds=30, memory_mb=1024).standard,
    stdout_bytes=100,
    output_bytes=1000,
    output_files=3,
)


@pytest.fixture
def job_dir(tmp_path: Path) -> JobDir:
    directory = JobDir(tmp_path / "job")
    directory.create()
    directory.stdout.touch()
    directory.stderr.touch()
    return directory


def test_a_job_within_its_limits_is_left_alone(job_dir: JobDir) -> None:
    (job_dir.output / "result.json").write_text("{}")
    job_dir.stdout.write_text("x" * 100)

    assert breach(job_dir, POLICY, "script") is None


def test_too_much_standard_output(job_dir: JobDir) -> None:
    job_dir.stdout.write_text("x" * 101)

    assert breach(job_dir, POLICY, "script") == (
        "script job printed more than 100 bytes to its standard output (results go to files)"
    )


def test_too_many_files_nested_ones_included(job_dir: JobDir) -> None:
    (job_dir.output / "a").mkdir()
    for name in ("b", "c", "d", "e"):
        (job_dir.output / "a" / name).touch()

    assert breach(job_dir, POLICY, "analysis") == "analysis job wrote more than 3 files"


def test_too_many_bytes(job_dir: JobDir) -> None:
    (job_dir.output / "big").write_bytes(b"x" * 900)
    job_dir.stderr.write_bytes(b"y" * 101)

    assert breach(job_dir, POLICY, "script") == "script job wrote more than 1000 bytes of output"


def test_measuring_stops_after_the_limit(tmp_path: Path) -> None:
    for n in range(50):
        (tmp_path / f"{n}").write_bytes(b"x")

    usage = measure([tmp_path], max_entries=10)

    assert usage.files == 11


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "big").write_bytes(b"x" * 10_000)
    (tmp_path / "inside").mkdir()
    (tmp_path / "inside" / "link").symlink_to(tmp_path / "outside")

    assert measure([tmp_path / "inside"], max_entries=100).bytes == 0
