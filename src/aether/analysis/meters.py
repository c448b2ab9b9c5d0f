"""Cumulative energy meters: consumption is the sum of the differences between readings.

`total_increasing`: a reading below 90 % of the previous one is a meter reset (a new meter cycle
or a replaced meter): the new reading counts from zero, so the delta is the reading itself. A
smaller drop is a glitch (as in Home Assistant's statistics): it is ignored, and the meter must
climb back above its earlier high before more consumption counts, so nothing is counted twice.

`total` with `last_reset` (Home Assistant's semantics): a change of `last_reset` starts a new
period whose first reading counts from zero; otherwise differences count with their sign (a net
meter may run backwards). Without `last_reset` data a `total` meter cannot tell a new period from
a decrease, so it is read like `total_increasing`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from aether.analysis.curves import Curve
from aether.analysis.periods import NS_PER_H, IntArray
from aether.analysis.series import EntitySeries
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
    cycles: list[MeterEvent] = field(default_factory=list)
    """New periods of a `total` meter (a change of `last_reset`): expected, not a fault."""


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


NAT: Final = np.iinfo(np.int64).min


def period_starts(last_reset: IntArray) -> npt.NDArray[np.bool_]:
    """Readings whose `last_reset` differs from the one before (missing values carry over)."""
    known = last_reset != NAT
    index = np.where(known, np.arange(len(last_reset)), 0)
    carried = last_reset[np.maximum.accumulate(index)]
    carried = np.where(np.maximum.accumulate(known), carried, NAT)
    previous = np.concatenate(([NAT], carried[:-1]))
    return (carried != previous) & (carried != NAT) & (previous != NAT)


def total_deltas(readings_kwh: FloatArray, starts: npt.NDArray[np.bool_]) -> FloatArray:
    """Signed differences; the first reading of a new period counts from zero."""
    v = np.asarray(readings_kwh, dtype=np.float64)
    deltas = np.where(starts, v, v - np.concatenate(([v[0]], v[:-1])))
    deltas[0] = 0.0
    return deltas


def _events(t: IntArray, v: FloatArray, mask: FloatArray) -> list[MeterEvent]:
    rows = np.flatnonzero(mask > 0)
    return [MeterEvent(int(t[i]), float(v[i - 1]), float(v[i])) for i in rows if i > 0]


def uses_last_reset(series: EntitySeries, state_class: str | None) -> bool:
    return (
        state_class == "total"
        and series.last_reset is not None
        and bool(np.any(series.last_reset[series.valid] != NAT))
    )


def analyse_meter(
    series: EntitySeries, unit: str | None, max_gap_ns: int, state_class: str | None = None
) -> MeterAnalysis:
    readings = to_kwh(series.value, unit)
    periods = uses_last_reset(series, state_class)
    usable = series.valid & ((readings >= 0) | periods)
    negative = series.t[series.valid & ~usable]
    t, v = series.t[usable], readings[usable]
    if len(t) < 2:
        return MeterAnalysis(Curve.empty(), negative_at_ns=[int(x) for x in negative])
    if periods and series.last_reset is not None:
        starts = period_starts(series.last_reset[usable])
        deltas, reset, dip = total_deltas(v, starts), np.zeros(len(v)), np.zeros(len(v))
    else:
        starts = np.zeros(len(v), dtype=bool)
        deltas, reset, dip = meter_deltas(v)
    dt = np.diff(t)
    interval = deltas[1:]
    too_fast = np.abs(interval) / (dt.astype(np.float64) / NS_PER_H) > MAX_POWER_KW
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
        cycles=_events(t, v, starts.astype(np.float64)),
    )
