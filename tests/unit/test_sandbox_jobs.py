"""The job contract: what a runner accepts and how its failures read."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from pydantic import ValidationError

from aether.analysis.findings import AnalysisParams, AnalysisResult
from aether.analysis.schema import EntityMeta, empty_frame
from aether.sandbox.jobs import (
    AnalysisJob,
    JobOutcome,
    SandboxError,
    SandboxJobFailed,
    SandboxOutputInvalid,
    SandboxTimeout,
)
from aether.sandbox.layout import MAX_ERROR_MESSAGE_CHARS, JobError

START = datetime(2024, 3, 1, tzinfo=UTC)
METER = EntityMeta(
    entity_id="sensor.grid_import",
    friendly_name="Grid import",
    unit="kWh",
    device_class="energy",
    state_class="total_increasing",
)


def params() -> AnalysisParams:
    return AnalysisParams(
        window_start=START,
        window_end=START + timedelta(days=1),
        timezone="Europe/Berlin",
        window_label="1 March",
    )


def test_job_serialises_everything_but_the_frame() -> None:
    job = AnalysisJob(
        analyst="energy", params=params(), entities={METER.entity_id: METER}, frame=empty_frame()
    )

    dumped = json.loads(job.model_dump_json())

    assert set(dumped) == {"analyst", "params", "entities", "script"}
    assert dumped["entities"][METER.entity_id]["state_class"] == "total_increasing"
    assert "frame" not in repr(job)


def test_job_validates_the_json_half_from_plain_data() -> None:
    job = AnalysisJob.model_validate(
        {
            "analyst": "diagnostic",
            "params": params().model_dump(mode="json"),
            "entities": {METER.entity_id: METER.model_dump()},
            "frame": empty_frame(),
        }
    )

    assert job.params == params()
    assert job.entities[METER.entity_id] == METER


def test_job_rejects_an_unknown_analyst() -> None:
    with pytest.raises(ValidationError, match="analyst"):
        AnalysisJob.model_validate(
            {"analyst": "astrologer", "params": params(), "entities": {}, "frame": empty_frame()}
        )


def test_job_rejects_a_frame_without_the_household_columns() -> None:
    frame = pd.DataFrame({"entity_id": ["sensor.x"], "value": [1.0]})

    with pytest.raises(ValidationError, match=r"timestamp.*state|state.*timestamp"):
        AnalysisJob(analyst="energy", params=params(), entities={}, frame=frame)


def test_job_rejects_something_that_is_not_a_frame() -> None:
    with pytest.raises(ValidationError):
        AnalysisJob.model_validate(
            {"analyst": "energy", "params": params(), "entities": {}, "frame": [1, 2]}
        )


def test_outcome_round_trips_through_json() -> None:
    outcome = JobOutcome(
        result=AnalysisResult(analyst="energy", findings=[], confidence=0.5),
        duration_seconds=0.25,
        runner="subprocess",
    )

    assert JobOutcome.model_validate_json(outcome.model_dump_json()) == outcome


def test_outcome_rejects_a_negative_duration() -> None:
    with pytest.raises(ValidationError):
        JobOutcome(
            result=AnalysisResult(analyst="energy", findings=[], confidence=0.5),
            duration_seconds=-1,
            runner="subprocess",
        )


def test_every_sandbox_failure_is_a_sandbox_error() -> None:
    failures: list[SandboxError] = [
        SandboxTimeout(1.5),
        SandboxJobFailed("boom", returncode=1, error_type="ValueError", stderr_tail="..."),
        SandboxOutputInvalid("bad"),
    ]

    assert all(isinstance(failure, SandboxError) for failure in failures)
    assert str(failures[0]) == "analysis job exceeded its time limit of 1.5 s"


def test_job_error_keeps_type_and_a_bounded_message_only() -> None:
    error = JobError.from_exception(ValueError("x" * 10_000))

    assert error.type == "ValueError"
    assert len(error.message) == MAX_ERROR_MESSAGE_CHARS
