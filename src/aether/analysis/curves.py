"""Cumulative curves: any bucketing of energy (quarter hours, local days, a window) is a difference
of one curve evaluated at the bucket edges.

An interval's energy is spread uniformly over it, so an interval that straddles midnight or the
window start is split in proportion to time; nothing is counted twice and nothing outside the
data is invented (the curve is flat before the first and after the last reading).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from aether.analysis.periods import NS_PER_H, IntArray
from aether.analysis.units import FloatArray

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Buckets:
    energy_kwh: FloatArray
    """All energy attributed to each bucket."""
    covered_kwh: FloatArray
    """Only the energy of intervals no longer than the gap tolerance (for profiles and peaks)."""
    covered_h: FloatArray
    """Hours of the bucket spanned by such intervals."""


@dataclass(frozen=True)
class Curve:
    t: IntArray
    """Interval boundaries, strictly increasing, ns UTC."""
    energy: FloatArray
    covered_energy: FloatArray
    covered_h: FloatArray

    @classmethod
    def from_intervals(cls, t: IntArray, energy: FloatArray, covered: BoolArray) -> Curve:
        """`t` has one more element than `energy`/`covered` (interval i is [t[i], t[i+1]))."""
        duration_h = np.diff(t).astype(np.float64) / NS_PER_H
        return cls(
            t=t,
            energy=_cumulative(energy),
            covered_energy=_cumulative(np.where(covered, energy, 0.0)),
            covered_h=_cumulative(np.where(covered, duration_h, 0.0)),
        )

    @classmethod
    def empty(cls) -> Curve:
        zero = np.zeros(0, dtype=np.float64)
        return cls(t=np.zeros(0, dtype=np.int64), energy=zero, covered_energy=zero, covered_h=zero)

    def buckets(self, edges: IntArray) -> Buckets:
        return Buckets(
            energy_kwh=self._diff(edges, self.energy),
            covered_kwh=self._diff(edges, self.covered_energy),
            covered_h=self._diff(edges, self.covered_h),
        )

    def total(self, start_ns: int, end_ns: int) -> Buckets:
        return self.buckets(np.array([start_ns, end_ns], dtype=np.int64))

    def _diff(self, edges: IntArray, cumulative: FloatArray) -> FloatArray:
        if len(self.t) < 2:
            return np.zeros(max(len(edges) - 1, 0), dtype=np.float64)
        origin = self.t[0]
        x = (edges - origin).astype(np.float64)
        xp = (self.t - origin).astype(np.float64)
        return np.diff(np.interp(x, xp, cumulative))


def _cumulative(values: FloatArray) -> FloatArray:
    return np.concatenate(([0.0], np.cumsum(values, dtype=np.float64)))


def sum_buckets(parts: list[Buckets], size: int) -> Buckets:
    """Site totals from several entities; a bucket counts as covered as far as all parts are."""
    if not parts:
        zero = np.zeros(size, dtype=np.float64)
        return Buckets(energy_kwh=zero, covered_kwh=zero, covered_h=zero)
    return Buckets(
        energy_kwh=np.sum([p.energy_kwh for p in parts], axis=0),
        covered_kwh=np.sum([p.covered_kwh for p in parts], axis=0),
        covered_h=np.min([p.covered_h for p in parts], axis=0),
    )
