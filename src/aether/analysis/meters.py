"""Cumulative energy meters (`total_increasing`): consumption is the sum of positive differences.

A reading below 90 % of the previous one is a meter reset (a new meter cycle or a replaced meter):
the new reading counts from zero, so the delta is the reading itself. A smaller drop is a glitch
(as in Home Assistant's statistics): it is ignored, and the meter must climb back above its earlier
high before more consumption counts, so nothing is counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from aether.analysis.curves import Curve
from aether.analysis.frames import EntitySeries
from aether.analysis.periods import NS_PER_H, IntArray
from aether.analysis.units import FloatArray, to_kwh

RESET_RATIO: Final = 0.9
MAX_POWER_KW: Final = 100.0
"""More than a household connection can carry: a delta implying more is a spike, not energy."""


@dataclass(frozen=True)
class MeterEvent:
    at_ns: int
    before_kwh: float
    after_kwh: float


@dataclass(frozen=True)
class MeterAnalysis:
    curve: Curve
    resets: list[MeterEvent] = field(default_factory=list)
    dips: list[MeterEvent] = field(default_factory=list)
    spikes: list[MeterEvent] = field(default_factory=list)
    """Intervals whose delta implies more than MAX_POWER_KW; their energy is not counted."""
    negative_at_ns: list[int] = field(default_factory=list)


def meter_deltas(readings_kwh: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Delta per reading (0 for the first), and masks of resets and dips."""
    v = np.asarray(readings_kwh, dtype=np.float64)
    previous = np.concatenate(([np.nan], v[:-1]))
    reset = v < RESET_RATIO * previous
    dip = (v < previous) & ~reset
    segment = np.cumsum(reset)
    high = pd.Series(v).groupby(segment).cummax().to_numpy(dtype=np.float64)
    previous_high = np.concatenate(([np.nan], high[:-1]))
    deltas = np.where(reset, v, high - previous_high)
    deltas[0] = 0.0
    return deltas, reset.astype(np.float64), dip.astype(np.float64)


def _events(t: IntArray, v: FloatArray, mask: FloatArray) -> list[MeterEvent]:
    rows = np.flatnonzero(mask > 0)
    return [MeterEvent(int(t[i]), float(v[i - 1]), float(v[i])) for i in rows if i > 0]


def analyse_meter(series: EntitySeries, unit: str | None, max_gap_ns: int) -> MeterAnalysis:
    readings = to_kwh(series.value, unit)
    usable = series.valid & (readings >= 0)
    negative = series.t[series.valid & (readings < 0)]
    t, v = series.t[usable], readings[usable]
    if len(t) < 2:
        return MeterAnalysis(Curve.empty(), negative_at_ns=[int(x) for x in negative])
    deltas, reset, dip = meter_deltas(v)
    dt = np.diff(t)
    interval = deltas[1:]
    too_fast = interval / (dt.astype(np.float64) / NS_PER_H) > MAX_POWER_KW
    spikes = [
        MeterEvent(int(t[i + 1]), float(v[i]), float(v[i + 1])) for i in np.flatnonzero(too_fast)
    ]
    # A drop right after a spike is the spike ending, not a new meter cycle.
    energy = np.where(too_fast, 0.0, interval)
    reset[1:][too_fast] = 0.0
    return MeterAnalysis(
        curve=Curve.from_intervals(t, energy, dt <= max_gap_ns),
        resets=_events(t, v, reset),
        dips=_events(t, v, dip),
        spikes=spikes,
        negative_at_ns=[int(x) for x in negative],
    )
