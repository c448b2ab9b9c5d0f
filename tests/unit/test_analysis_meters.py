"""Cumulative meters and power integration on small hand-computed series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from aether.analysis.frames import long_frame
from aether.analysis.meters import analyse_meter, meter_deltas
from aether.analysis.periods import NS_PER_MIN, to_ns
from aether.analysis.power import integrate_power
from aether.analysis.series import EntitySeries, split_entities
from aether.analysis.units import to_kwh, to_watts

T0 = datetime(2026, 1, 5, tzinfo=UTC)
NO_GAP = 10**18


def series(
    states: list[str | float], step_min: float = 60, entity: str = "sensor.x"
) -> EntitySeries:
    times = [T0 + timedelta(minutes=step_min * i) for i in range(len(states))]
    return split_entities(long_frame(entity, times, states))[entity]


def total(curve_series: EntitySeries, unit: str = "kWh") -> float:
    curve = analyse_meter(curve_series, unit, NO_GAP).curve
    return float(curve.total(to_ns(T0), to_ns(T0 + timedelta(days=1))).energy_kwh[0])


def test_reset_counts_the_new_reading_from_zero() -> None:
    deltas, reset, dip = meter_deltas(np.array([10.0, 12.0, 0.5, 2.0]))
    assert deltas.tolist() == [0.0, 2.0, 0.5, 1.5]
    assert reset.tolist() == [0, 0, 1, 0]
    assert not dip.any()


def test_meter_with_reset_gives_the_exact_energy_and_reports_it() -> None:
    meter = series([100.0, 101.0, 102.5, 0.4, 1.4])
    assert total(meter) == pytest.approx(1.0 + 1.5 + 0.4 + 1.0)
    resets = analyse_meter(meter, "kWh", NO_GAP).resets
    assert [(r.before_kwh, r.after_kwh) for r in resets] == [(102.5, 0.4)]
    assert resets[0].at_ns == to_ns(T0 + timedelta(hours=3))


def test_small_drop_is_a_glitch_not_a_reset_and_is_not_counted_twice() -> None:
    meter = series([100.0, 101.0, 100.5, 101.5, 102.0])
    analysis = analyse_meter(meter, "kWh", NO_GAP)
    assert total(meter) == pytest.approx(2.0)
    assert analysis.resets == []
    assert len(analysis.dips) == 1


def test_spike_beyond_physical_limits_is_not_energy() -> None:
    meter = series([100.0, 101.0, 5000.0, 102.0, 103.0], step_min=15)
    analysis = analyse_meter(meter, "kWh", NO_GAP)
    assert total(meter) == pytest.approx(2.0)
    assert len(analysis.spikes) == 2
    assert analysis.resets == []


def test_wh_meter_is_normalised_to_kwh() -> None:
    assert total(series([1000.0, 1500.0, 2500.0]), unit="Wh") == pytest.approx(1.5)


def test_meter_interval_is_split_in_proportion_at_window_edges() -> None:
    curve = analyse_meter(series([0.0, 1.0, 2.0, 3.0, 4.0]), "kWh", NO_GAP).curve
    start, end = to_ns(T0 + timedelta(minutes=90)), to_ns(T0 + timedelta(hours=3))
    assert float(curve.total(start, end).energy_kwh[0]) == pytest.approx(1.5)


def test_negative_meter_readings_are_left_out() -> None:
    analysis = analyse_meter(series([5.0, -3.0, 6.0]), "kWh", NO_GAP)
    assert analysis.negative_at_ns == [to_ns(T0 + timedelta(hours=1))]
    assert float(analysis.curve.energy[-1]) == pytest.approx(1.0)


def kwh_of(power: EntitySeries, max_gap_min: float, unit: str = "W") -> float:
    analysis = integrate_power(power, unit, int(max_gap_min * NS_PER_MIN))
    return float(analysis.curve.total(to_ns(T0), to_ns(T0 + timedelta(days=1))).energy_kwh[0])


@pytest.mark.parametrize("step", [15, 60])
def test_constant_1000_w_for_two_hours_is_2_kwh(step: int) -> None:
    power = series([1000.0] * (120 // step + 1), step_min=step)
    assert kwh_of(power, max_gap_min=60) == pytest.approx(2.0)


def test_trapezoid_of_a_ramp() -> None:
    assert kwh_of(series([0.0, 1000.0]), max_gap_min=60) == pytest.approx(0.5)


def test_kw_sensor_is_normalised_to_w() -> None:
    assert kwh_of(series([1.0, 1.0]), max_gap_min=60, unit="kW") == pytest.approx(1.0)
    assert to_watts(np.array([2.5]), "kW").tolist() == [2500.0]
    assert to_kwh(np.array([2.5]), "MWh").tolist() == [2500.0]


def test_gap_longer_than_tolerance_is_not_integrated_and_is_reported() -> None:
    times = [T0 + timedelta(minutes=15 * i) for i in range(5)]
    times += [T0 + timedelta(hours=3, minutes=15 * i) for i in range(5)]
    power = split_entities(long_frame("sensor.p", times, [1000.0] * 10))["sensor.p"]
    analysis = integrate_power(power, "W", 30 * NS_PER_MIN)
    assert float(analysis.curve.energy[-1]) == pytest.approx(2.0)
    assert analysis.skipped == [(to_ns(T0 + timedelta(hours=1)), to_ns(T0 + timedelta(hours=3)))]
    assert kwh_of(power, max_gap_min=180) == pytest.approx(4.0)


def test_unavailable_reading_breaks_integration() -> None:
    power = series([1000.0, "unavailable", 1000.0, 1000.0], step_min=15)
    analysis = integrate_power(power, "W", 30 * NS_PER_MIN)
    assert float(analysis.curve.energy[-1]) == pytest.approx(0.25)
    assert len(analysis.skipped) == 1


def test_duplicate_timestamps_keep_the_last_state() -> None:
    times = pd.DatetimeIndex([T0, T0, T0 + timedelta(hours=1)])
    parsed = split_entities(long_frame("sensor.x", times, [1.0, 2.0, 3.0]))["sensor.x"]
    assert parsed.value.tolist() == [2.0, 3.0]
