"""The demo household: deterministic, coherent, and with the planted faults the analysts find."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from aether.analysis.findings import AnalysisParams, AnalysisResult, Finding
from aether.analysis.meters import RESET_RATIO
from aether.analysis.registry import run_analysis
from aether.data.demo import (
    GRID_EXPORT,
    GRID_IMPORT,
    HEAT_PUMP,
    OUTDOOR,
    ensure_demo_household,
    generate_demo_household,
)
from aether.data.parquet_store import ParquetHouseholdSource, read_household, write_household
from aether.data.slicing import slice_household
from aether.data.source import HouseholdData

NOW = datetime(2026, 11, 25, 14, 7, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
LAST_WEEK = (datetime(2026, 11, 16, tzinfo=BERLIN), datetime(2026, 11, 23, tzinfo=BERLIN))
CONSUMERS = [
    "sensor.heat_pump_power",
    "sensor.ev_charger_power",
    "sensor.fridge_power",
    "sensor.network_rack_power",
]


@pytest.fixture(scope="module")
def demo() -> HouseholdData:
    return generate_demo_household(NOW)


def entity(data: HouseholdData, entity_id: str) -> pd.DataFrame:
    return data.frame[data.frame["entity_id"] == entity_id]


def analyse(data: HouseholdData, analyst: str, window: tuple[datetime, datetime]) -> AnalysisResult:
    p = AnalysisParams(
        window_start=window[0],
        window_end=window[1],
        timezone=data.timezone,
        window_label="last week",
    )
    return run_analysis(analyst, data.frame, data.entities, p)  # type: ignore[arg-type]


def kinds(result: AnalysisResult) -> dict[tuple[str, str], Finding]:
    return {(f.kind, e): f for f in result.findings for e in f.entities}


def test_same_seed_same_household_other_seed_other_household(demo: HouseholdData) -> None:
    pd.testing.assert_frame_equal(demo.frame, generate_demo_household(NOW).frame)
    other = generate_demo_household(NOW, seed=8).frame
    assert not demo.frame["value"].equals(other["value"])


def test_covers_90_days_at_15_minutes_up_to_now(demo: HouseholdData) -> None:
    times = entity(demo, "sensor.solar_power")["timestamp"]
    assert times.max() == pd.Timestamp("2026-11-25 14:00", tz="UTC")
    assert times.max() - times.min() >= pd.Timedelta(days=90)
    assert times.diff().median() == pd.Timedelta(minutes=15)
    assert str(demo.frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert demo.timezone == "Europe/Berlin"


def test_grid_import_meter_resets_exactly_once(demo: HouseholdData) -> None:
    for meter, resets in ((GRID_IMPORT, 1), (GRID_EXPORT, 0)):
        values = entity(demo, meter)["value"].to_numpy()
        assert int(np.sum(values[1:] < RESET_RATIO * values[:-1])) == resets
        assert int(np.sum(values[1:] < values[:-1])) == resets


def test_switches_report_on_and_off_without_values(demo: HouseholdData) -> None:
    light = entity(demo, "light.living_room")
    assert set(light["state"]) == {"on", "off"}
    assert light["value"].isna().all()


def test_grid_import_covers_the_metered_loads_at_night(demo: HouseholdData) -> None:
    """Import is max(load - solar, 0) with load = metered devices + at least 70 W unmetered."""
    wide = demo.frame.pivot_table(index="timestamp", columns="entity_id", values="value")
    wide = wide.loc["2026-11-10":"2026-11-20"].dropna(subset=[*CONSUMERS, "sensor.solar_power"])
    dark = (wide["sensor.solar_power"] == 0) & (wide["sensor.solar_power"].shift(-1) == 0)
    step_kwh = wide[GRID_IMPORT].diff().shift(-1)
    devices_kwh = (wide[CONSUMERS] + wide[CONSUMERS].shift(-1)).sum(axis=1) / 2 * 0.25 / 1000
    spare_kwh = (step_kwh - devices_kwh)[dark & (step_kwh >= 0)]
    assert len(spare_kwh) > 300
    assert spare_kwh.min() >= 0.07 * 0.25 - 1e-3


def test_energy_analysis_of_last_week_is_plausible(demo: HouseholdData) -> None:
    result = analyse(demo, "energy", LAST_WEEK)
    found = kinds(result)
    per_day = {m.name: m.value for m in found["consumption_total", GRID_IMPORT].metrics}
    assert 5 <= per_day["average_per_day"] <= 40
    baseload = {m.name: m.value for m in found["baseload", GRID_IMPORT].metrics}["baseload"]
    assert 20 <= baseload <= 500
    assert ("solar_production", "sensor.solar_power") in found
    assert result.confidence >= 0.8


def test_diagnostics_find_the_stale_and_the_unavailable_sensor(demo: HouseholdData) -> None:
    found = kinds(analyse(demo, "diagnostic", LAST_WEEK))
    stale = found["stale_sensor", OUTDOOR]
    assert stale.evidence[0].start == datetime(2026, 11, 20, 14, tzinfo=UTC)
    outage = found["unavailable", HEAT_PUMP]
    assert outage.metrics[0].value == pytest.approx(6.0)
    assert {k for k, _ in found} <= {"stale_sensor", "unavailable", "coverage", "quality_summary"}


def test_diagnostics_find_the_reset_over_the_whole_history(demo: HouseholdData) -> None:
    window = (NOW - timedelta(days=90), NOW)
    resets = [f for f in analyse(demo, "diagnostic", window).findings if f.kind == "meter_reset"]
    assert [f.entities for f in resets] == [[GRID_IMPORT]]


def test_written_once_atomically_and_read_back(demo: HouseholdData, tmp_path: Path) -> None:
    assert ensure_demo_household(tmp_path, NOW) is True
    written = (tmp_path / "household.parquet").stat().st_mtime_ns
    assert ensure_demo_household(tmp_path, NOW + timedelta(hours=20)) is False
    assert (tmp_path / "household.parquet").stat().st_mtime_ns == written
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "demo.json",
        "entities.json",
        "household.parquet",
    ]
    back = read_household(tmp_path)
    pd.testing.assert_frame_equal(back.frame, demo.frame)
    assert back.entities == demo.entities
    assert back.timezone == "Europe/Berlin"


def test_a_stale_demo_is_regenerated_but_imported_data_is_kept(tmp_path: Path) -> None:
    demo_dir, imported_dir = tmp_path / "demo", tmp_path / "imported"
    ensure_demo_household(demo_dir, NOW)
    assert ensure_demo_household(demo_dir, NOW + timedelta(days=3)) is True
    assert read_household(demo_dir).frame["timestamp"].max() > NOW + timedelta(days=2)
    write_household(generate_demo_household(NOW, days=14), imported_dir)
    assert ensure_demo_household(imported_dir, NOW + timedelta(days=30)) is False


async def test_parquet_source_loads_a_window_with_the_state_before_it(
    demo: HouseholdData, tmp_path: Path
) -> None:
    ensure_demo_household(tmp_path, NOW)
    source = ParquetHouseholdSource(tmp_path)
    assert len(await source.entities()) == len(demo.entities)
    start, end = LAST_WEEK
    wanted = [GRID_IMPORT, "light.living_room"]
    loaded = await source.load(start, end, wanted)
    assert set(loaded.entities) == set(wanted)
    assert set(loaded.frame["entity_id"]) == set(wanted)
    for entity_id in wanted:
        times = entity(loaded, entity_id)["timestamp"]
        assert (times < end).all()
        before = times[times < start]
        assert len(before) == 1
        history = entity(demo, entity_id)["timestamp"]
        assert before.iloc[0] == history[history < start].max()
        assert (times >= start).sum() == ((history >= start) & (history < end)).sum()


def test_slicing_leaves_the_household_untouched(demo: HouseholdData) -> None:
    before = demo.frame.copy()
    part = slice_household(demo, *LAST_WEEK)
    assert len(part.frame) < len(demo.frame)
    pd.testing.assert_frame_equal(demo.frame, before)


def test_needs_at_least_a_week() -> None:
    with pytest.raises(ValueError, match="at least 7 days"):
        generate_demo_household(NOW, days=3)


@pytest.mark.parametrize("analyst", ["energy", "behavioral", "diagnostic"])
def test_results_survive_a_json_round_trip(demo: HouseholdData, analyst: str) -> None:
    result = analyse(demo, analyst, (NOW - timedelta(days=30), NOW))
    assert AnalysisResult.model_validate_json(result.model_dump_json()) == result
    assert result.findings
    assert all(f.summary[:1].isupper() or "." in f.summary.split()[0] for f in result.findings)
