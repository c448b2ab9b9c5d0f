"""`SubprocessRunner` end to end: real analyses in a real child process, and every failure mode."""

from __future__ import annotations

import asyncio
import logging
import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aether.analysis.findings import AnalysisParams, AnalystName
from aether.analysis.registry import run_analysis
from aether.analysis.schema import EntityMeta
from aether.config import load_settings
from aether.sandbox.factory import create_runner
from aether.sandbox.jobfiles import job_failure, write_inputs
from aether.sandbox.jobs import AnalysisJob, SandboxOutputInvalid, SandboxTimeout
from aether.sandbox.layout import JOB_MODULE, JobDir
from aether.sandbox.process import ProcessLimits, run_process
from aether.sandbox.subprocess_runner import SubprocessRunner

START = datetime(2024, 3, 4, tzinfo=UTC)
DAYS = 3
ENTITIES = {
    meta.entity_id: meta
    for meta in (
        EntityMeta(
            entity_id="sensor.grid_import",
            friendly_name="Grid import",
            unit="kWh",
            device_class="energy",
            state_class="total_increasing",
        ),
        EntityMeta(
            entity_id="sensor.fridge_power",
            friendly_name="Fridge power",
            unit="W",
            device_class="power",
            state_class="measurement",
        ),
        EntityMeta(entity_id="switch.kettle", friendly_name="Kettle"),
    )
}


def household_frame() -> pd.DataFrame:
    """Three days: an hourly import meter, a cycling fridge every 15 minutes, a morning kettle."""
    hours = pd.date_range(START, periods=DAYS * 24, freq="h", tz="UTC")
    quarters = pd.date_range(START, periods=DAYS * 96, freq="15min", tz="UTC")
    meter = 2000 + np.cumsum(0.3 + 0.2 * (hours.hour >= 18))
    fridge = np.where(np.arange(len(quarters)) % 4 < 2, 90.0, 2.0)
    kettle_times = [
        START + timedelta(days=d, hours=7, minutes=m) for d in range(DAYS) for m in (0, 4)
    ]
    parts = [
        ("sensor.grid_import", hours, meter, [f"{v:.3f}" for v in meter]),
        ("sensor.fridge_power", quarters, fridge, [f"{v:.1f}" for v in fridge]),
        (
            "switch.kettle",
            pd.DatetimeIndex(kettle_times),
            [np.nan] * len(kettle_times),
            ["on", "off"] * DAYS,
        ),
    ]
    frame = pd.concat(
        [
            pd.DataFrame({"entity_id": entity, "timestamp": ts, "value": values, "state": states})
            for entity, ts, values, states in parts
        ],
        ignore_index=True,
    )
    frame["entity_id"] = frame["entity_id"].astype("string")
    frame["state"] = frame["state"].astype("string")
    return frame


def make_job(analyst: AnalystName) -> AnalysisJob:
    return AnalysisJob(
        analyst=analyst,
        params=AnalysisParams(
            window_start=START,
            window_end=START + timedelta(days=DAYS),
            timezone="Europe/Berlin",
            window_label="4 to 6 March",
        ),
        entities=ENTITIES,
        frame=household_frame(),
    )


def fake_python(tmp_path: Path, body: str) -> str:
    """An executable standing in for the interpreter; it gets `-I -m <module> <job_dir>`."""
    script = tmp_path / "fake-python"
    script.write_text(f'#!/bin/sh\njob_dir="$4"\n{body}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def is_running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"


async def assert_gone(pid: int) -> None:
    for _ in range(200):
        if not is_running(pid):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"process {pid} is still running")


@pytest.mark.parametrize("analyst", ["energy", "behavioral", "diagnostic"])
async def test_a_job_returns_what_the_analysis_returns_in_process(
    analyst: AnalystName, tmp_path: Path
) -> None:
    job = make_job(analyst)
    runner = SubprocessRunner(tmp_path / "work", timeout_seconds=30)

    outcome = await runner.run(job)

    assert outcome.runner == "subprocess"
    assert outcome.duration_seconds > 0
    assert outcome.result == run_analysis(analyst, job.frame, job.entities, job.params)
    assert list((tmp_path / "work").iterdir()) == []


async def test_the_job_reports_bad_inputs_as_a_short_typed_error(tmp_path: Path) -> None:
    job_dir = JobDir(tmp_path / "job")
    write_inputs(make_job("energy"), job_dir)
    job_dir.params.write_text('{"window_start": "yesterday"}')
    limits = ProcessLimits.for_job(2048, timeout_seconds=30, file_bytes=1 << 20)

    process = await run_process(
        [sys.executable, "-I", "-m", JOB_MODULE, str(job_dir.root)], job_dir, 30, limits
    )

    failure = job_failure(job_dir, process.returncode)
    assert process.returncode == 1
    assert failure.error_type == "ValidationError"
    assert str(failure).startswith("analysis failed: ValidationError: ")
    assert "Traceback" not in str(failure)
    assert "Traceback" in job_dir.stderr.read_text()


async def test_a_hanging_job_times_out_and_leaves_nothing_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    python = fake_python(tmp_path, f'echo $$ > "{pid_file}"\nexec sleep 60')
    runner = SubprocessRunner(tmp_path / "work", timeout_seconds=1, python=python)

    with pytest.raises(SandboxTimeout):
        await runner.run(make_job("energy"))

    await assert_gone(int(pid_file.read_text()))
    assert list((tmp_path / "work").iterdir()) == []


async def test_cancelling_a_job_kills_it_and_removes_its_directory(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    python = fake_python(
        tmp_path,
        f'echo $$ > "{pid_file}.partial"\nmv "{pid_file}.partial" "{pid_file}"\nexec sleep 60',
    )
    runner = SubprocessRunner(tmp_path / "work", timeout_seconds=30, python=python)
    task = asyncio.create_task(runner.run(make_job("energy")))
    for _ in range(500):
        if pid_file.exists():
            break
        await asyncio.sleep(0.01)
    pid = int(pid_file.read_text())

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await assert_gone(pid)
    assert list((tmp_path / "work").iterdir()) == []


async def test_a_job_that_writes_garbage_is_refused(tmp_path: Path) -> None:
    python = fake_python(tmp_path, 'echo "{not json" > "$job_dir/output/result.json"')
    runner = SubprocessRunner(tmp_path / "work", timeout_seconds=5, python=python)

    with pytest.raises(SandboxOutputInvalid, match="invalid result"):
        await runner.run(make_job("energy"))

    assert list((tmp_path / "work").iterdir()) == []


async def test_the_factory_builds_the_process_runner_when_asked_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        aether_data_dir=tmp_path, sandbox="process", analysis_timeout_seconds=7
    )
    with caplog.at_level(logging.WARNING):
        runner = await create_runner(settings)

    assert isinstance(runner, SubprocessRunner)
    assert runner.name == "subprocess"
    assert runner.description == "subprocess (SANDBOX=process)"
    assert runner.work_dir.parts[-2:] == (tmp_path.name, "sandbox")
    assert runner.timeout_seconds == 7
    assert "not in gVisor" in caplog.text
