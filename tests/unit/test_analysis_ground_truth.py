"""Ground truth: a household built by hand around the autumn DST change, with every fault the
analysts must survive, and the exact numbers an expert computes for it on paper.

Window: Fri 23 Oct 2026 00:00 to Tue 27 Oct 2026 00:00, Europe/Berlin: 97 hours (25 Oct has 25).
- Grid import meter in Wh (total_increasing), hourly: 0.5 kWh in each night hour (00-07, 23-24),
  1.5 kWh in each day hour; reset to zero at 24 Oct 12:00; `unavailable` at 26 Oct 03:00; one
  reading delivered twice. Days: 28 + 28 + 28.5 + 28 = 112.5 kWh.
- Heater in kW, every 15 min, 0.5 kW, silent 24 Oct 06:00-09:00: (97 - 3) h x 0.5 kW = 47 kWh.
- Lamp in W, every 15 min, 60 W, `unknown` at 25 Oct 12:00 (two quarter hours lost), a
  conflicting duplicate and a row delivered late: (97 - 0.5) h x 60 W = 5.79 kWh.
- Pump in W, 100 W, a 250 kW spike (two quarter hours lost) and a -80 W reading (counted as 0 W):
  9.7 - 0.05 - 0.025 = 9.625 kWh.
- EV meter, `total` with `last_reset` at local midnight, hourly but never at midnight: 9.5 kWh
  between 00:00 and 01:00, 0.5 kWh between 12:00 and 13:00, every day: 40 kWh; the first reading
  of a day (9.5) is above 90 % of the last one of the day before (10.0), so only `last_reset`
  tells the new period from a glitch.
- Outdoor temperature silent from 24 Oct 12:00: stale for 61 h at the window end.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from aether.analysis.findings import AnalysisParams, AnalysisResult, Finding
from aether.analysis.frames import long_frame, normalise_frame
from aether.analysis.registry import run_analysis
from aether.analysis.schema import EntityMeta
from aether.analysis.tariff import Tariff

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 10, 23, tzinfo=BERLIN)
END = datetime(2026, 10, 27, tzinfo=BERLIN)
GRID, HEATER, LAMP, PUMP, EV, OUTDOOR = (
    "sensor.grid_import_energy",
    "sensor.heater_power",
    "sensor.lamp_power",
    "sensor.pump_power",
    "sensor.ev_energy",
    "sensor.outdoor_temperature",
)
TARIFF = "EUR 0.20@00-07,0.40@07-23,0.20@23-24"


def utc(day: int, hour: int, minute: int = 0) -> pd.Timestamp:
    """A local Berlin time in October 2026 as a UTC timestamp."""
    return pd.Timestamp(datetime(2026, 10, day, hour, minute, tzinfo=BERLIN)).tz_convert(UTC)


def meta(entity_id: str, unit: str, device: str, state_class: str) -> EntityMeta:
    return EntityMeta(
        entity_id=entity_id,
        friendly_name=entity_id.split(".")[1].split("_")[0].capitalize(),
        unit=unit,
        device_class=device,
        state_class=state_class,
    )


ENTITIES = {
    m.entity_id: m
    for m in (
        meta(GRID, "Wh", "energy", "total_increasing"),
        meta(HEATER, "kW", "power", "measurement"),
        meta(LAMP, "W", "power", "measurement"),
        meta(PUMP, "W", "power", "measurement"),
        meta(EV, "kWh", "energy", "total"),
        meta(OUTDOOR, "°C", "temperature", "measurement"),
    )
}


def _night(local_hour: int) -> bool:
    return local_hour < 7 or local_hour == 23


def grid_frame() -> pd.DataFrame:
    times = pd.date_range(START - timedelta(hours=1), END + timedelta(hours=1), freq="h")
    times = times.tz_convert(UTC)
    used = [0.5 if _night(t.tz_convert(BERLIN).hour) else 1.5 for t in times[:-1]]
    readings, total = [1000.0], 1000.0
    for t, kwh in zip(times[1:], used, strict=True):
        total = kwh if t == utc(24, 12) else total + kwh
        readings.append(total)
    states: list[str | float] = [round(r * 1000, 3) for r in readings]
    states[list(times).index(utc(26, 3))] = "unavailable"
    twice = list(times).index(utc(23, 10))
    order = [*range(twice + 1), twice, *range(twice + 1, len(times))]
    return long_frame(GRID, [times[i] for i in order], [states[i] for i in order])


def quarter_frame(entity_id: str, value: float) -> tuple[list[pd.Timestamp], list[str | float]]:
    times = list(pd.date_range(START, END, freq="15min").tz_convert(UTC))
    return times, [value] * len(times)


def heater_frame() -> pd.DataFrame:
    times, states = quarter_frame(HEATER, 0.5)
    kept = [(t, s) for t, s in zip(times, states, strict=True) if not utc(24, 6) < t < utc(24, 9)]
    return long_frame(HEATER, [t for t, _ in kept], [s for _, s in kept])


def lamp_frame() -> pd.DataFrame:
    times, states = quarter_frame(LAMP, 60.0)
    states[times.index(utc(25, 12))] = "unknown"
    rows = list(zip(times, states, strict=True))
    late = rows.pop(times.index(utc(23, 21)))
    conflict = times.index(utc(23, 20))
    rows.insert(conflict, (utc(23, 20), 500.0))
    rows.append(late)
    return long_frame(LAMP, [t for t, _ in rows], [s for _, s in rows])


def pump_frame() -> pd.DataFrame:
    times, states = quarter_frame(PUMP, 100.0)
    states[times.index(utc(24, 15))] = 250_000.0
    states[times.index(utc(25, 15))] = -80.0
    return long_frame(PUMP, times, states)


def ev_frame() -> pd.DataFrame:
    times = pd.date_range(utc(22, 23), utc(27, 1), freq="h")
    rows = []
    for t in times:
        local = t.tz_convert(BERLIN)
        if local.hour == 0:
            continue
        midnight = pd.Timestamp(datetime.combine(local.date(), datetime.min.time(), BERLIN))
        rows.append((t, 10.0 if local.hour >= 13 else 9.5, midnight.tz_convert(UTC)))
    return long_frame(EV, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


def outdoor_frame() -> pd.DataFrame:
    times = list(pd.date_range(utc(23, 0), utc(24, 12), freq="15min"))
    return long_frame(OUTDOOR, times, [12.5] * len(times))


def household() -> pd.DataFrame:
    parts = [grid_frame(), heater_frame(), lamp_frame(), pump_frame(), ev_frame(), outdoor_frame()]
    return normalise_frame(pd.concat(parts, ignore_index=True))


def params(tariff: str | None = TARIFF) -> AnalysisParams:
    return AnalysisParams(
        window_start=START,
        window_end=END,
        timezone="Europe/Berlin",
        window_label="the DST weekend",
        max_gap_minutes=90,
        tariff=None if tariff is None else Tariff.parse(tariff),
    )


@pytest.fixture(scope="module")
def energy() -> AnalysisResult:
    return run_analysis("energy", household(), ENTITIES, params())


@pytest.fixture(scope="module")
def diagnostic() -> AnalysisResult:
    return run_analysis("diagnostic", household(), ENTITIES, params())


def finding(result: AnalysisResult, kind: str, entity: str | None = None) -> Finding:
    found = [
        f for f in result.findings if f.kind == kind and (entity is None or entity in f.entities)
    ]
    assert len(found) == 1, [(f.kind, f.entities) for f in result.findings]
    return found[0]


def metrics(f: Finding, entity: str | None = None) -> dict[str, float]:
    return {m.name: m.value for m in f.metrics if entity is None or m.entity_id == entity}


def test_consumption_in_total_and_per_local_day_across_the_dst_change(
    energy: AnalysisResult,
) -> None:
    total = metrics(finding(energy, "consumption_total"))
    assert total["grid_import"] == 112.5
    assert total["average_per_day"] == round(112.5 * 24 / 97, 3)
    daily = metrics(finding(energy, "daily_consumption"))
    days = {k: v for k, v in daily.items() if k.startswith("2026-")}
    assert days == {"2026-10-23": 28.0, "2026-10-24": 28.0, "2026-10-25": 28.5, "2026-10-26": 28.0}
    weekly = metrics(finding(energy, "weekly_consumption"))
    assert weekly == {"week_of_2026-10-19": 84.5, "week_of_2026-10-26": 28.0}


def test_consumption_per_entity_with_units_gaps_resets_and_last_reset(
    energy: AnalysisResult,
) -> None:
    by_entity = finding(energy, "consumption_by_entity")
    kwh = {m.entity_id: m.value for m in by_entity.metrics if m.name == "energy"}
    assert kwh == {GRID: 112.5, HEATER: 47.0, LAMP: 5.79, PUMP: 9.625, EV: 40.0}
    uncovered = {m.entity_id: m.value for m in by_entity.metrics if m.name == "uncovered_time"}
    assert uncovered == {GRID: 2.0, HEATER: 3.0, LAMP: 0.5, PUMP: 0.5, EV: 8.0}
    ev = next(e for e in by_entity.evidence if e.entity_id == EV)
    assert ev.data["days"] == {f"2026-10-{d}": 10.0 for d in (23, 24, 25, 26)}
    assert len(ev.data["metering_periods"]) == 5


def test_without_last_reset_a_total_meter_cannot_see_its_new_periods() -> None:
    frame = household().drop(columns=["last_reset"])
    result = run_analysis("energy", frame, ENTITIES, params())
    by_entity = finding(result, "consumption_by_entity")
    ev = [m.value for m in by_entity.metrics if m.name == "energy" and m.entity_id == EV]
    assert ev[0] < 40.0


def test_baseload_peak_and_cost(energy: AnalysisResult) -> None:
    assert metrics(finding(energy, "baseload")) == {
        "baseload": 500.0,
        "baseload_energy": 48.5,
        "baseload_share": round(100 * 48.5 / 112.5, 1),
    }
    peak = finding(energy, "peak_demand")
    assert metrics(peak) == {"peak_demand": 1.5}
    assert peak.metrics[0].at == utc(23, 7).to_pydatetime()
    assert metrics(finding(energy, "energy_cost")) == {
        "cost": 41.7,
        "priced_energy": 112.5,
        "average_price": round(41.7 / 112.5, 4),
        "cost_per_day": round(41.7 / (97 / 24), 2),
        "cheapest_rate_share": round(100 * 16.5 / 112.5, 1),
    }
    flat = run_analysis("energy", household(), ENTITIES, params("0.30 EUR"))
    assert metrics(finding(flat, "energy_cost"))["cost"] == round(112.5 * 0.30, 2)


def test_top_consumers_and_hourly_profile(energy: AnalysisResult) -> None:
    top = finding(energy, "top_consumers")
    shares = {m.entity_id: m.value for m in top.metrics if m.name == "share"}
    assert shares == {
        HEATER: round(100 * 47 / 112.5, 1),
        EV: round(100 * 40 / 112.5, 1),
        PUMP: round(100 * 9.625 / 112.5, 1),
        LAMP: round(100 * 5.79 / 112.5, 1),
    }
    assert metrics(top)["unmetered"] == round(112.5 - 102.415, 3)
    profile = metrics(finding(energy, "hourly_profile"))
    assert (profile["hour_02"], profile["hour_03"], profile["hour_18"]) == (0.5, 0.5, 1.5)


def test_every_fault_is_found_with_its_entity_and_time(diagnostic: AnalysisResult) -> None:
    reset = finding(diagnostic, "meter_reset", GRID)
    assert metrics(reset) == {"meter_resets": 1}
    assert reset.metrics[0].at == utc(24, 12).to_pydatetime()
    assert metrics(finding(diagnostic, "gap", HEATER)) == {
        "gap_count": 1,
        "gap_time": 3.0,
        "longest_gap": 3.0,
    }
    gap = finding(diagnostic, "gap", HEATER).evidence[0]
    assert (gap.start, gap.end) == (utc(24, 6).to_pydatetime(), utc(24, 9).to_pydatetime())
    assert metrics(finding(diagnostic, "unavailable", GRID)) == {
        "unavailable_time": 1.0,
        "unavailable_periods": 1,
    }
    assert metrics(finding(diagnostic, "unavailable", LAMP)) == {
        "unavailable_time": 0.25,
        "unavailable_periods": 1,
    }
    impossible = finding(diagnostic, "impossible_value", PUMP)
    assert metrics(impossible) == {"impossible_values": 2}
    assert [e.start for e in impossible.evidence] == [
        utc(24, 15).to_pydatetime(),
        utc(25, 15).to_pydatetime(),
    ]
    stale = finding(diagnostic, "stale_sensor", OUTDOOR)
    assert metrics(stale) == {"silent_time": 61.0}


def test_duplicates_and_late_rows_are_counted(diagnostic: AnalysisResult) -> None:
    assert metrics(finding(diagnostic, "duplicate_timestamps", GRID)) == {
        "duplicates": 1,
        "conflicting_duplicates": 0,
    }
    assert metrics(finding(diagnostic, "duplicate_timestamps", LAMP)) == {
        "duplicates": 1,
        "conflicting_duplicates": 1,
    }
    late = finding(diagnostic, "out_of_order_timestamps", LAMP)
    assert metrics(late) == {"out_of_order": 1}
    assert late.evidence[0].start == utc(23, 21).to_pydatetime()


def test_nothing_else_is_reported(diagnostic: AnalysisResult) -> None:
    issues = sorted(
        (f.kind, f.entities[0])
        for f in diagnostic.findings
        if f.kind not in ("quality_summary", "coverage")
    )
    assert issues == sorted(
        [
            ("meter_reset", GRID),
            ("unavailable", GRID),
            ("duplicate_timestamps", GRID),
            ("gap", HEATER),
            ("unavailable", LAMP),
            ("duplicate_timestamps", LAMP),
            ("out_of_order_timestamps", LAMP),
            ("impossible_value", PUMP),
            ("stale_sensor", OUTDOOR),
        ]
    )


def test_the_conflicting_duplicate_keeps_the_last_state() -> None:
    result = run_analysis("energy", lamp_frame(), {LAMP: ENTITIES[LAMP]}, params())
    by_entity = finding(result, "consumption_by_entity")
    assert metrics(by_entity, LAMP)["energy"] == 5.79
    assert np.isclose(metrics(by_entity, LAMP)["uncovered_time"], 0.5)
