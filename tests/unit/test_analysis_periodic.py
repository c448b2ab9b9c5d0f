"""Weeks, months, week-over-week, unusual days, weekdays against weekends and cost, on a meter
whose daily totals are chosen by hand (two weeks from Mon 2 Nov 2026, Europe/Berlin)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from aether.analysis.anomalies import robust_z
from aether.analysis.findings import AnalysisParams, AnalysisResult, Finding
from aether.analysis.frames import long_frame
from aether.analysis.periods import local_periods, to_ns
from aether.analysis.registry import run_analysis
from aether.analysis.schema import EntityMeta
from aether.analysis.tariff import Tariff

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 11, 2, tzinfo=BERLIN)
DAYS = [20, 22, 24, 26, 28, 20, 22, 24, 26, 28, 20, 22, 24, 60]
"""kWh per day; the last day (Sun 15 Nov) is the outlier."""
GRID = "sensor.grid_import_energy"
META = {
    GRID: EntityMeta(
        entity_id=GRID,
        friendly_name="Grid",
        unit="kWh",
        device_class="energy",
        state_class="total_increasing",
    )
}


def meter(days: list[float]) -> pd.DataFrame:
    times = pd.date_range(START, START + timedelta(days=len(days)), freq="h")
    hourly = np.repeat(np.asarray(days, dtype=float) / 24.0, 24)
    readings = 100.0 + np.concatenate(([0.0], np.cumsum(hourly)))
    return long_frame(GRID, times, list(readings))


def analyse(days: list[float], tariff: str | None = None) -> AnalysisResult:
    params = AnalysisParams(
        window_start=START,
        window_end=START + timedelta(days=len(days)),
        timezone="Europe/Berlin",
        window_label="two weeks",
        max_gap_minutes=90,
        tariff=None if tariff is None else Tariff.parse(tariff),
    )
    return run_analysis("energy", meter(days), META, params)


def finding(result: AnalysisResult, kind: str) -> Finding:
    found = [f for f in result.findings if f.kind == kind]
    assert len(found) == 1, [f.kind for f in result.findings]
    return found[0]


def values(f: Finding) -> dict[str, float]:
    return {m.name: m.value for m in f.metrics if m.entity_id is None}


@pytest.fixture(scope="module")
def result() -> AnalysisResult:
    return analyse(DAYS, "0.30 EUR")


def test_weekly_totals_and_week_over_week(result: AnalysisResult) -> None:
    assert values(finding(result, "weekly_consumption")) == {
        "week_of_2026-11-02": 162.0,
        "week_of_2026-11-09": 204.0,
    }
    assert values(finding(result, "week_over_week")) == {
        "last_full_week": 204.0,
        "previous_week": 162.0,
        "relative_change": round(100 * 42 / 162, 1),
        "absolute_change": 42.0,
    }


def test_the_outlier_day_and_only_it_is_anomalous(result: AnalysisResult) -> None:
    odd = finding(result, "anomalous_days")
    assert values(odd) == {
        "2026-11-15": 60.0,
        "anomalous_days": 1,
        "observed_days": 14,
        "median_day": 24.0,
    }
    assert odd.evidence[0].data["robust_z"] == round(0.6745 * 36 / 2, 2)


def test_robust_z_falls_back_to_the_mean_deviation_when_mad_is_zero() -> None:
    z = robust_z(np.array([24.0] * 12 + [48.0, 12.0]))
    mean_ad = 36 / 14
    assert z[-2] == pytest.approx(24 / (1.253314 * mean_ad))
    assert z[-1] == pytest.approx(-12 / (1.253314 * mean_ad))
    assert robust_z(np.array([5.0, 5.0, 5.0])).tolist() == [0.0, 0.0, 0.0]


def test_no_anomaly_is_said_plainly() -> None:
    calm = finding(analyse([*DAYS[:-1], 24]), "anomalous_days")
    assert values(calm)["anomalous_days"] == 0
    assert calm.summary.startswith("No day")


def test_weekdays_against_weekends(result: AnalysisResult) -> None:
    assert values(finding(result, "weekday_weekend_profile")) == {
        "weekday_average": 24.0,
        "weekend_average": 31.5,
        "weekend_difference": 31.2,
    }


def test_flat_tariff_prices_every_kwh(result: AnalysisResult) -> None:
    cost = values(finding(result, "energy_cost"))
    assert cost["cost"] == round(sum(DAYS) * 0.30, 2)
    assert cost["average_price"] == 0.3
    assert "cheapest_rate_share" not in cost


def test_weeks_and_months_are_local_and_dst_aware() -> None:
    start = to_ns(datetime(2026, 3, 20, tzinfo=BERLIN))
    end = to_ns(datetime(2026, 4, 10, 12, tzinfo=BERLIN))
    weeks = local_periods(start, end, "Europe/Berlin", "week")
    assert [d.isoformat() for d in weeks.labels] == [
        "2026-03-16",
        "2026-03-23",
        "2026-03-30",
        "2026-04-06",
    ]
    assert weeks.hours().tolist() == [72.0, 167.0, 168.0, 108.0]
    assert weeks.complete.tolist() == [False, True, True, False]
    months = local_periods(start, end, "Europe/Berlin", "month")
    assert [d.isoformat() for d in months.labels] == ["2026-03-01", "2026-04-01"]
    assert months.hours().tolist() == [12 * 24 - 1, 9 * 24 + 12]


def test_months_are_reported_when_the_window_spans_two() -> None:
    result = analyse([10.0] * 40)
    months = values(finding(result, "monthly_consumption"))
    assert months == {"month_2026-11": 290.0, "month_2026-12": 110.0}
