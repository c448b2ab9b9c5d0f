"""The job directory from both sides: inputs round-trip, outputs are read defensively."""

from __future__ import annotations

import json
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from aether.analysis.findings import AnalysisParams, AnalysisResult, Finding
from aether.analysis.schema import EntityMeta
from aether.sandbox import job_main
from aether.sandbox.jobfiles import (
    STDERR_TAIL_LINES,
    collect_result,
    job_failure,
    read_capped,
    read_result,
    write_inputs,
)
from aether.sandbox.jobs import AnalysisJob, SandboxJobFailed, SandboxOutputInvalid
from aether.sandbox.layout import JobDir, JobError

START = datetime(2024, 3, 1, tzinfo=UTC)
METER = EntityMeta(
    entity_id="sensor.grid_import",
    friendly_name="Grid import",
    unit="kWh",
    device_class="energy",
    state_class="total_increasing",
)


def household_frame() -> pd.DataFrame:
    values = 1000 + np.cumsum(np.full(24, 0.5))
    states = [f"{v:.3f}" for v in values]
    states[5] = "unavailable"
    values[5] = np.nan
    return pd.DataFrame(
        {
            "entity_id": pd.Series([METER.entity_id] * 24, dtype="string"),
            "timestamp": pd.date_range(START, periods=24, freq="h", tz="UTC"),
            "value": values,
            "state": pd.Series(states, dtype="string"),
        }
    )


def make_job() -> AnalysisJob:
    return AnalysisJob(
        analyst="energy",
        params=AnalysisParams(
            window_start=START,
            window_end=START + timedelta(days=1),
            timezone="Europe/Berlin",
            window_label="1 March",
            focus_entities=[METER.entity_id],
        ),
        entities={METER.entity_id: METER},
        frame=household_frame(),
    )


def result_json(analyst: str = "energy") -> str:
    finding = Finding(
        analyst="energy",
        kind="consumption_total",
        title="Consumption",
        summary="11.5 kWh on 1 March.",
        confidence=0.9,
    )
    return AnalysisResult.model_validate(
        {"analyst": analyst, "findings": [finding.model_dump()], "confidence": 0.9}
    ).model_dump_json()


@pytest.fixture
def job_dir(tmp_path: Path) -> JobDir:
    directory = JobDir(tmp_path / "job")
    directory.create()
    return directory


def test_inputs_round_trip_to_what_the_job_reads(job_dir: JobDir) -> None:
    job = make_job()

    write_inputs(job, job_dir)

    assert_frame_equal(job_main.read_frame(job_dir.frame), job.frame)
    assert json.loads(job_dir.analyst.read_text()) == "energy"
    assert AnalysisParams.model_validate_json(job_dir.params.read_text()) == job.params
    entities = json.loads(job_dir.entities.read_text())
    assert EntityMeta.model_validate(entities[METER.entity_id]) == METER


def test_job_main_reports_invalid_inputs_as_an_error_file(job_dir: JobDir) -> None:
    write_inputs(make_job(), job_dir)
    job_dir.analyst.write_text('"astrologer"')

    assert job_main.main([str(job_dir.root)]) == 1

    error = JobError.model_validate_json(job_dir.error.read_text())
    assert error.type == "ValidationError"
    assert not job_dir.result.exists()


def test_job_main_needs_exactly_one_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert job_main.main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_write_atomically_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "result.json"

    job_main.write_atomically(target, "{}")

    assert target.read_text() == "{}"
    assert [path.name for path in tmp_path.iterdir()] == ["result.json"]


def test_a_valid_result_is_returned(job_dir: JobDir) -> None:
    job_dir.result.write_text(result_json())

    result = collect_result(job_dir, 0, "energy", max_result_bytes=1_000_000)

    assert result.findings[0].kind == "consumption_total"


def test_a_missing_result_is_invalid_output(job_dir: JobDir) -> None:
    with pytest.raises(SandboxOutputInvalid, match="without writing a result"):
        read_result(job_dir, "energy", 1_000_000)


def test_a_result_above_the_size_limit_is_refused(job_dir: JobDir) -> None:
    job_dir.result.write_text(result_json())
    size = job_dir.result.stat().st_size

    assert read_capped(job_dir.result, size) is not None
    with pytest.raises(SandboxOutputInvalid, match="exceeds"):
        read_result(job_dir, "energy", size - 1)


def test_a_malformed_result_is_refused_without_echoing_it(job_dir: JobDir) -> None:
    job_dir.result.write_text('{"analyst": "energy", "secret": "hunter2"}')

    with pytest.raises(SandboxOutputInvalid) as raised:
        read_result(job_dir, "energy", 1_000_000)

    assert "hunter2" not in str(raised.value)


def test_a_result_for_another_analyst_is_refused(job_dir: JobDir) -> None:
    job_dir.result.write_text(result_json(analyst="diagnostic"))

    with pytest.raises(SandboxOutputInvalid, match="diagnostic"):
        read_result(job_dir, "energy", 1_000_000)


def test_a_symlinked_result_is_not_followed(job_dir: JobDir, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text(result_json())
    job_dir.result.symlink_to(outside)

    with pytest.raises(SandboxOutputInvalid, match="not a file"):
        read_result(job_dir, "energy", 1_000_000)


def test_a_fifo_result_does_not_block_the_reader(job_dir: JobDir) -> None:
    os.mkfifo(job_dir.result)

    with pytest.raises(SandboxOutputInvalid, match="not a regular file"):
        read_result(job_dir, "energy", 1_000_000)


def test_a_failed_job_is_described_by_its_error_file(job_dir: JobDir) -> None:
    error = JobError(type="ZeroDivisionError", message="division by zero")
    job_dir.error.write_text(error.model_dump_json())
    job_dir.stderr.write_text("Traceback (most recent call last):\n  ...\nZeroDivisionError\n")

    with pytest.raises(SandboxJobFailed) as raised:
        collect_result(job_dir, 1, "energy", max_result_bytes=1_000_000)

    failure = raised.value
    assert str(failure) == "analysis failed: ZeroDivisionError: division by zero"
    assert failure.error_type == "ZeroDivisionError"
    assert failure.returncode == 1
    assert "Traceback" not in str(failure)
    assert failure.stderr_tail.endswith("ZeroDivisionError")


def test_a_killed_job_is_described_by_its_signal(job_dir: JobDir) -> None:
    failure = job_failure(job_dir, -signal.SIGXCPU)

    assert str(failure) == "analysis job killed at its CPU time limit (SIGXCPU)"
    assert failure.error_type is None
    assert failure.stderr_tail == ""


def test_a_malformed_error_file_falls_back_to_the_exit_status(job_dir: JobDir) -> None:
    job_dir.error.write_text("not json")

    assert str(job_failure(job_dir, 3)) == "analysis job exited with status 3"


def test_the_stderr_tail_is_short(job_dir: JobDir) -> None:
    job_dir.stderr.write_text("".join(f"line {n}\n" for n in range(10_000)))

    tail = job_failure(job_dir, 1).stderr_tail

    assert tail.splitlines() == [f"line {n}" for n in range(10_000 - STDERR_TAIL_LINES, 10_000)]
