"""Power sensors: energy by trapezoidal integration over time, never across a gap.

An interval is integrated only when both ends are valid readings and it is no longer than the gap
tolerance; otherwise its time is reported as skipped, because whatever ran then is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aether.analysis.curves import BoolArray, Curve
from aether.analysis.meters import MAX_POWER_KW
from aether.analysis.periods import NS_PER_H, IntArray
from aether.analysis.series import EntitySeries
from aether.analysis.units import to_watts


@dataclass(frozen=True)
class PowerAnalysis:
    curve: Curve
    skipped: list[tuple[int, int]] = field(default_factory=list)
    """Time ranges (ns) that were not integrated."""


def runs(mask: BoolArray) -> list[tuple[int, int]]:
    """Index ranges [first, last] of consecutive True values."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    change = np.diff(padded)
    starts = np.flatnonzero(change == 1)
    ends = np.flatnonzero(change == -1) - 1
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def trapezoid_kwh(t: IntArray, watts: np.ndarray) -> np.ndarray:
    """Energy of each interval between consecutive readings, in kWh."""
    duration_h = np.diff(t).astype(np.float64) / NS_PER_H
    return (watts[:-1] + watts[1:]) / 2.0 * duration_h / 1000.0


def integrate_power(
    series: EntitySeries, unit: str | None, max_gap_ns: int, *, clip_negative: bool = True
) -> PowerAnalysis:
    """`clip_negative`: a consumer or producer never runs backwards; a grid sensor may."""
    if len(series) < 2:
        return PowerAnalysis(Curve.empty())
    watts = to_watts(series.value, unit)
    usable = series.valid & (np.abs(watts) <= MAX_POWER_KW * 1000.0)
    watts = np.where(usable, np.clip(watts, 0.0, None) if clip_negative else watts, 0.0)
    dt = np.diff(series.t)
    covered = usable[:-1] & usable[1:] & (dt <= max_gap_ns)
    energy = np.where(covered, trapezoid_kwh(series.t, watts), 0.0)
    skipped = [(int(series.t[a]), int(series.t[b + 1])) for a, b in runs(~covered & (dt > 0))]
    return PowerAnalysis(Curve.from_intervals(series.t, energy, covered), skipped)
