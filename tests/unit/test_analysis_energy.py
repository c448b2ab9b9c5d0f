"""The energy analyst end to end on small frames whose answers are known by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from aether.analysis.findings import AnalysisParams, AnalysisResult, Finding
from aether.analysis.frames import long_frame
from aether.analysis.registry import run_analysis
from aether.analysis.schema import EntityMeta, empty_frame

BERLIN = ZoneInfo("Europe/Berlin")
GRID = "sensor.grid_import_energy"


def meter_meta(entity_id: str = GRID, unit: str = "kWh") -> EntityMeta:
    return EntityMeta(
        entity_id=entity_id,
        friendly_name=entity_id,
        unit=unit,
        device_class="energy",
        state_class="total_increasing",
    )


def power_meta(entity_id: str, name: str = "") -> EntityMeta:
    return EntityMeta(
        entity_id=entity_id,
        friendly_name=name or entity_id,
        unit="W",
        device_class="power",
        state_class="measurement",
    )


def params(
    start: datetime,
    end: datetime,
    label: str = "the period",
    max_gap_minutes: float = 30.0,
    focus_entities: list[str] | None = None,
) -> AnalysisParams:
    return AnalysisParams(
        window_start=start,
        window_end=end,
        timezone="Europe/Berlin",
        window_label=label,
        max_gap_minutes=max_gap_minutes,
        focus_entities=focus_entities or [],
    )


def energy(frame: pd.DataFrame, entities: list[EntityMeta], p: AnalysisParams) -> AnalysisResult:
    return run_analysis("energy", frame, {m.entity_id: m for m in entities}, p)


def finding(result: AnalysisResult, kind: str) -> Finding:
    matches = [f for f in result.findings if f.kind == kind]
    assert len(matches) == 1, [f.kind for f in result.findings]
    return matches[0]


def metric(f: Finding, name: str, entity_id: str | None = None) -> float:
    values = [m.value for m in f.metrics if m.name == name and m.entity_id == entity_id]
    assert len(values) == 1, (name, f.metrics)
    return values[0]


def meter_from_power(
    times: pd.DatetimeIndex, watts: np.ndarray, entity: str = GRID
) -> pd.DataFrame:
    """Cumulative kWh readings whose deltas are the trapezoid of the given power."""
    hours = np.diff(times.as_unit("ns").asi8) / 3.6e12
    increments = (watts[:-1] + watts[1:]) / 2 * hours / 1000
    return long_frame(entity, times, list(np.concatenate(([50.0], 50.0 + np.cumsum(increments)))))


def hourly_meter(start: datetime, end: datetime, kwh_per_hour: float = 1.0) -> pd.DataFrame:
    times = pd.date_range(start, end, freq="h").tz_convert("UTC")
    return long_frame(GRID, times, [100.0 + kwh_per_hour * i for i in range(len(times))])


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (datetime(2026, 3, 28, tzinfo=BERLIN), [24.0, 23.0, 24.0]),
        (datetime(2026, 10, 24, tzinfo=BERLIN), [24.0, 25.0, 24.0]),
    ],
)
def test_dst_days_are_23_and_25_hours_long(first: datetime, expected: list[float]) -> None:
    end = first + timedelta(days=3)
    end = end.replace(tzinfo=None).replace(tzinfo=BERLIN)
    result = energy(hourly_meter(first, end), [meter_meta()], params(first, end))
    daily = finding(result, "daily_consumption")
    dates = [(first.date() + timedelta(days=i)).isoformat() for i in range(3)]
    assert [metric(daily, d) for d in dates] == pytest.approx(expected)
    assert metric(finding(result, "consumption_total"), "grid_import") == pytest.approx(
        sum(expected)
    )


def test_integrated_power_is_assigned_to_local_days_across_dst() -> None:
    first = datetime(2026, 10, 24, tzinfo=BERLIN)
    end = datetime(2026, 10, 27, tzinfo=BERLIN)
    times = pd.date_range(first, end, freq="15min").tz_convert("UTC")
    frame = long_frame("sensor.heater_power", times, [1000.0] * len(times))
    result = energy(frame, [power_meta("sensor.heater_power")], params(first, end))
    daily = finding(result, "daily_consumption")
    assert [metric(daily, f"2026-10-{d}") for d in (24, 25, 26)] == pytest.approx([24, 25, 24])


def test_hourly_profile_averages_the_repeated_hour_of_the_autumn_night() -> None:
    first = datetime(2026, 10, 24, tzinfo=BERLIN)
    end = datetime(2026, 10, 27, tzinfo=BERLIN)
    p = params(first, end, max_gap_minutes=90)
    profile = finding(energy(hourly_meter(first, end), [meter_meta()], p), "hourly_profile")
    assert {m.value for m in profile.metrics} == {1.0}
    assert len(profile.metrics) == 24


def site_frame() -> tuple[pd.DataFrame, datetime, datetime, pd.DatetimeIndex]:
    """Two days of grid import: a 300 W floor, 2 kW extra 18-22 h, one 8 kW quarter hour."""
    start = datetime(2026, 11, 16, tzinfo=BERLIN)
    end = start + timedelta(days=2)
    times = pd.date_range(start, end, freq="15min").tz_convert("UTC")
    local_hour = times.tz_convert(BERLIN).hour
    watts = np.where((local_hour >= 18) & (local_hour < 22), 2300.0, 300.0)
    frame = meter_from_power(times, watts)
    peak_at = pd.Timestamp(datetime(2026, 11, 17, 7, 30, tzinfo=BERLIN))
    values = frame["value"].to_numpy().copy()
    values[times > peak_at] += 8.0 * 0.25
    return long_frame(GRID, times, list(values)), start, end, times


def test_baseload_is_the_constant_floor() -> None:
    frame, start, end, _ = site_frame()
    base = finding(energy(frame, [meter_meta()], params(start, end)), "baseload")
    assert metric(base, "baseload") == pytest.approx(300.0, abs=0.5)
    assert metric(base, "baseload_energy") == pytest.approx(0.3 * 48, rel=1e-3)


def test_peak_demand_is_the_highest_quarter_hour_average() -> None:
    frame, start, end, _ = site_frame()
    peak = finding(energy(frame, [meter_meta()], params(start, end)), "peak_demand")
    assert metric(peak, "peak_demand") == pytest.approx(8.3)
    assert peak.metrics[0].at == datetime(2026, 11, 17, 7, 30, tzinfo=BERLIN)
    assert "17 Nov 07:30–07:45" in peak.summary


def test_baseload_ignores_daytime_hidden_by_solar() -> None:
    start = datetime(2026, 6, 1, tzinfo=BERLIN)
    end = start + timedelta(days=2)
    times = pd.date_range(start, end, freq="15min").tz_convert("UTC")
    hour = times.tz_convert(BERLIN).hour
    daylight = (hour >= 6) & (hour < 20)
    grid = meter_from_power(times, np.where(daylight, 0.0, 250.0))
    solar = long_frame("sensor.solar_power", times, list(np.where(daylight, 3000.0, 0.0)))
    entities = [meter_meta(), power_meta("sensor.solar_power")]
    result = energy(pd.concat([grid, solar]), entities, params(start, end))
    assert metric(finding(result, "baseload"), "baseload") == pytest.approx(250.0, abs=0.5)
    assert metric(finding(result, "solar_production"), "solar_production") == pytest.approx(84.0)


def test_totals_shares_and_summary_name_the_window() -> None:
    start = datetime(2026, 11, 16, tzinfo=BERLIN)
    end = datetime(2026, 11, 23, tzinfo=BERLIN)
    times = pd.date_range(start, end, freq="15min").tz_convert("UTC")
    frame = pd.concat(
        [
            meter_from_power(times, np.full(len(times), 1000.0)),
            long_frame("sensor.heat_pump_power", times, [500.0] * len(times)),
            long_frame("sensor.fridge_power", times, [100.0] * len(times)),
        ]
    )
    entities = [
        meter_meta(),
        power_meta("sensor.heat_pump_power", "Heat pump"),
        power_meta("sensor.fridge_power", "Fridge"),
    ]
    result = energy(frame, entities, params(start, end, label="last week"))
    total = finding(result, "consumption_total")
    assert metric(total, "grid_import") == pytest.approx(168.0)
    assert metric(total, "average_per_day", None) == pytest.approx(24.0)
    assert total.summary.startswith("Last week (16–22 Nov) you used 168.0 kWh from the grid")
    top = finding(result, "top_consumers")
    assert metric(top, "share", "sensor.heat_pump_power") == pytest.approx(50.0)
    assert metric(top, "share", "sensor.fridge_power") == pytest.approx(10.0)
    assert metric(top, "unmetered") == pytest.approx(168.0 * 0.4)
    assert result.confidence >= 0.9


def test_confidence_is_low_with_a_tight_gap_tolerance_and_rises_with_a_wider_one() -> None:
    start = datetime(2026, 11, 16, tzinfo=BERLIN)
    end = start + timedelta(days=2)
    times = pd.date_range(start, end, freq="h").tz_convert("UTC")
    frame = pd.concat(
        [
            meter_from_power(times, np.full(len(times), 800.0)),
            long_frame("sensor.heat_pump_power", times, [500.0] * len(times)),
        ]
    )
    entities = [meter_meta(), power_meta("sensor.heat_pump_power")]
    tight = energy(frame, entities, params(start, end, max_gap_minutes=30))
    wide = energy(frame, entities, params(start, end, max_gap_minutes=90))
    assert tight.confidence < 0.6
    assert wide.confidence > 0.9
    assert any("sensor.heat_pump_power" in note for note in tight.notes)
    hp = "sensor.heat_pump_power"
    assert metric(finding(tight, "consumption_by_entity"), "energy", hp) == 0.0
    assert metric(finding(wide, "consumption_by_entity"), "energy", hp) == pytest.approx(24.0)


def test_a_long_outage_lowers_confidence() -> None:
    start = datetime(2026, 11, 16, tzinfo=BERLIN)
    end = start + timedelta(days=1)
    times = pd.date_range(start, end, freq="15min").tz_convert("UTC")
    morning, evening = (
        pd.Timestamp(start + timedelta(hours=6)),
        pd.Timestamp(start + timedelta(hours=18)),
    )
    kept = times[(times < morning) | (times >= evening)]
    frame = meter_from_power(kept, np.full(len(kept), 400.0))
    result = energy(frame, [meter_meta()], params(start, end))
    assert result.confidence < 0.6
    assert metric(finding(result, "consumption_total"), "grid_import") == pytest.approx(9.6)


@pytest.mark.parametrize("analyst", ["energy", "behavioral", "diagnostic"])
def test_an_empty_window_gives_one_no_data_finding(analyst: str) -> None:
    start = datetime(2026, 11, 16, tzinfo=BERLIN)
    p = params(start, start + timedelta(days=7), label="last week")
    for frame in (
        empty_frame(),
        hourly_meter(start - timedelta(days=30), start - timedelta(days=20)),
    ):
        result = run_analysis(analyst, frame, {GRID: meter_meta()}, p)  # type: ignore[arg-type]
        assert result.confidence == 0.0
        assert [f.kind for f in result.findings] == ["no_data"]
        assert "last week (16–22 Nov)" in result.findings[0].summary


def test_focus_entities_restrict_the_analysis() -> None:
    start = datetime(2026, 11, 16, tzinfo=BERLIN)
    end = start + timedelta(days=1)
    times = pd.date_range(start, end, freq="15min").tz_convert("UTC")
    frame = pd.concat(
        [
            meter_from_power(times, np.full(len(times), 1000.0)),
            long_frame("sensor.ev_power", times, [2000.0] * len(times)),
        ]
    )
    entities = [meter_meta(), power_meta("sensor.ev_power")]
    result = energy(frame, entities, params(start, end, focus_entities=["sensor.ev_power"]))
    assert finding(result, "consumption_by_entity").entities == ["sensor.ev_power"]
    assert metric(finding(result, "consumption_total"), "metered_consumption") == pytest.approx(48)


def test_unknown_analyst_is_a_clear_error() -> None:
    start = datetime(2026, 11, 16, tzinfo=BERLIN)
    with pytest.raises(ValueError, match="unknown analyst"):
        run_analysis("astrology", empty_frame(), {}, params(start, start + timedelta(days=1)))  # type: ignore[arg-type]


def test_solar_alone_reports_production_without_consumption() -> None:
    start = datetime(2026, 6, 1, tzinfo=BERLIN)
    times = pd.date_range(start, start + timedelta(days=1), freq="15min").tz_convert("UTC")
    frame = long_frame("sensor.solar_power", times, [500.0] * len(times))
    result = energy(frame, [power_meta("sensor.solar_power")], params(start, times[-1]))
    assert [f.kind for f in result.findings] == ["solar_production", "consumption_by_entity"]
    assert metric(finding(result, "solar_production"), "solar_production") == pytest.approx(12.0)
