"""The diagnostic analyst finds every planted data problem and names entity and time range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from aether.analysis.findings import AnalysisParams, AnalysisResult, Finding
from aether.analysis.frames import long_frame
from aether.analysis.registry import run_analysis
from aether.analysis.schema import EntityMeta

START = datetime(2026, 11, 16, tzinfo=UTC)
END = START + timedelta(days=3)
QUARTERS = pd.date_range(START, END, freq="15min", inclusive="left")


def power(entity_id: str) -> EntityMeta:
    return EntityMeta(
        entity_id=entity_id,
        friendly_name=entity_id,
        unit="W",
        device_class="power",
        state_class="measurement",
    )


ENTITIES = {
    "sensor.gappy_power": power("sensor.gappy_power"),
    "sensor.flaky_power": power("sensor.flaky_power"),
    "sensor.odd_power": power("sensor.odd_power"),
    "sensor.clean_power": power("sensor.clean_power"),
    "sensor.temperature": EntityMeta(
        entity_id="sensor.temperature",
        friendly_name="Outdoor",
        unit="°C",
        device_class="temperature",
    ),
    "sensor.grid_energy": EntityMeta(
        entity_id="sensor.grid_energy",
        friendly_name="Grid",
        unit="kWh",
        device_class="energy",
        state_class="total_increasing",
    ),
}
GAP = (pd.Timestamp(START + timedelta(hours=10)), pd.Timestamp(START + timedelta(hours=13)))
OUTAGE = (START + timedelta(days=1, hours=2), START + timedelta(days=1, hours=4))
SILENT_FROM = pd.Timestamp(END - timedelta(days=1))
RESET_AT = START + timedelta(days=2)


def planted() -> pd.DataFrame:
    gappy = QUARTERS[(GAP[0] >= QUARTERS) | (GAP[1] <= QUARTERS)]
    flaky_states: list[str | float] = [
        "unavailable" if OUTAGE[0] <= t < OUTAGE[1] else 300.0 for t in QUARTERS
    ]
    odd_states: list[str | float] = [100.0] * len(QUARTERS)
    odd_states[10], odd_states[20] = -500.0, 250_000.0
    temps = QUARTERS[QUARTERS <= SILENT_FROM]
    meter = [1000.0 + 0.1 * i if t < RESET_AT else 0.1 * (i - 191) for i, t in enumerate(QUARTERS)]
    clean = long_frame("sensor.clean_power", QUARTERS, [50.0] * len(QUARTERS))
    duplicated = clean.iloc[[5, 6]]
    late = clean.iloc[[3]]
    return pd.concat(
        [
            long_frame("sensor.gappy_power", gappy, [200.0] * len(gappy)),
            long_frame("sensor.flaky_power", QUARTERS, flaky_states),
            long_frame("sensor.odd_power", QUARTERS, odd_states),
            clean,
            duplicated,
            late,
            long_frame("sensor.temperature", temps, [4.5] * len(temps)),
            long_frame("sensor.grid_energy", QUARTERS, meter),
        ],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def result() -> AnalysisResult:
    p = AnalysisParams(
        window_start=START, window_end=END, timezone="UTC", window_label="the period"
    )
    return run_analysis("diagnostic", planted(), ENTITIES, p)


def only(result: AnalysisResult, kind: str, entity_id: str) -> Finding:
    found = [f for f in result.findings if f.kind == kind and f.entities == [entity_id]]
    assert len(found) == 1, [(f.kind, f.entities) for f in result.findings]
    return found[0]


def test_gap_is_found_with_its_time_range(result: AnalysisResult) -> None:
    gap = only(result, "gap", "sensor.gappy_power")
    assert [(e.start, e.end) for e in gap.evidence] == [GAP]
    assert {m.name: m.value for m in gap.metrics}["gap_time"] == pytest.approx(3.0)
    assert not [
        f for f in result.findings if f.kind == "gap" and f.entities != ["sensor.gappy_power"]
    ]


def test_stale_sensor_is_found(result: AnalysisResult) -> None:
    stale = only(result, "stale_sensor", "sensor.temperature")
    assert stale.evidence[0].start == SILENT_FROM
    assert stale.metrics[0].value == pytest.approx(23.75)


def test_unavailable_period_is_found(result: AnalysisResult) -> None:
    outage = only(result, "unavailable", "sensor.flaky_power")
    assert [(e.start, e.end) for e in outage.evidence] == [OUTAGE]


def test_negative_and_impossible_values_are_found(result: AnalysisResult) -> None:
    odd = only(result, "impossible_value", "sensor.odd_power")
    assert [e.start for e in odd.evidence] == [QUARTERS[10], QUARTERS[20]]
    assert [e.data["value"] for e in odd.evidence] == [-500.0, 250_000.0]


def test_meter_reset_is_found(result: AnalysisResult) -> None:
    reset = only(result, "meter_reset", "sensor.grid_energy")
    assert reset.evidence[0].start == RESET_AT
    assert reset.evidence[0].data["after_kwh"] == pytest.approx(0.1)


def test_duplicates_and_out_of_order_rows_are_found(result: AnalysisResult) -> None:
    dup = only(result, "duplicate_timestamps", "sensor.clean_power")
    assert {m.name: m.value for m in dup.metrics} == {"duplicates": 3, "conflicting_duplicates": 0}
    late = only(result, "out_of_order_timestamps", "sensor.clean_power")
    assert late.evidence[0].start == QUARTERS[5]


def test_coverage_per_entity_uses_the_median_spacing(result: AnalysisResult) -> None:
    coverage = next(f for f in result.findings if f.kind == "coverage")
    values = {m.entity_id: m.value for m in coverage.metrics if m.name == "coverage"}
    assert values["sensor.clean_power"] == pytest.approx(100.0)
    assert values["sensor.gappy_power"] == pytest.approx(100 * (288 - 11) / 288, abs=0.1)
    assert values["sensor.temperature"] == pytest.approx(100 * 193 / 288, abs=0.5)


def test_clean_data_has_no_issues() -> None:
    frame = long_frame("sensor.clean_power", QUARTERS, [50.0] * len(QUARTERS))
    p = AnalysisParams(
        window_start=START, window_end=END, timezone="UTC", window_label="the period"
    )
    result = run_analysis("diagnostic", frame, ENTITIES, p)
    assert [f.kind for f in result.findings] == ["quality_summary", "coverage"]
    assert result.confidence > 0.9


def test_confidence_follows_the_gap_tolerance() -> None:
    hourly = pd.date_range(START, END, freq="h", inclusive="left")
    frame = long_frame("sensor.clean_power", hourly, [50.0] * len(hourly))
    low = AnalysisParams(window_start=START, window_end=END, timezone="UTC", window_label="x")
    high = low.model_copy(update={"max_gap_minutes": 90.0})
    assert run_analysis("diagnostic", frame, ENTITIES, low).confidence < 0.6
    assert run_analysis("diagnostic", frame, ENTITIES, high).confidence > 0.9
