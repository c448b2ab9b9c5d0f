"""Data-quality checks on one entity's series: spacing, coverage, gaps, staleness, unavailable
periods and raw-order problems. Thresholds scale with the entity's own reporting interval."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from aether.analysis.curves import Curve
from aether.analysis.periods import NS_PER_H, NS_PER_MIN, IntArray
from aether.analysis.power import runs
from aether.analysis.series import Columns, EntitySeries

GAP_FACTOR: Final = 3
"""A gap is a silence longer than 3 reporting intervals (and than the gap tolerance)."""
STALE_FACTOR: Final = 24
STALE_MIN_NS: Final = 6 * NS_PER_H
"""Stale: silent up to the window end for 24 reporting intervals, and at least 6 h."""

Range = tuple[int, int]


@dataclass(frozen=True)
class Spacing:
    interval_ns: int | None
    """Median spacing between reports in the window (None with fewer than three reports)."""
    points: int
    """Valid numeric reports inside the window."""
    coverage: float | None
    """Valid reports / expected reports, at most 1."""


@dataclass(frozen=True)
class RawOrder:
    duplicates: int = 0
    conflicting: int = 0
    """Duplicates whose states differ."""
    out_of_order: int = 0
    first_duplicate_ns: int | None = None
    last_duplicate_ns: int | None = None
    first_late_ns: int | None = None
    """Timestamp of the first row (in delivery order) that arrived after a later one."""
    late_span: Range | None = None
    """Earliest and latest timestamp of such rows."""


def inside(series: EntitySeries, start_ns: int, end_ns: int) -> IntArray:
    return np.flatnonzero((series.t >= start_ns) & (series.t < end_ns))


def spacing(series: EntitySeries, start_ns: int, horizon_ns: int, end_ns: int) -> Spacing:
    """Readings are expected every median spacing from the window start up to the horizon
    (including a reading at the horizon itself when the data ends inside the window)."""
    last = horizon_ns + 1 if horizon_ns < end_ns else end_ns
    points = int(np.count_nonzero(series.valid[inside(series, start_ns, last)]))
    steps = np.diff(series.t[series.t <= horizon_ns])
    steps = steps[steps > 0]
    if len(steps) < 2:
        return Spacing(None, points, None)
    interval = int(np.median(steps))
    expected = max((last - start_ns) // interval + (1 if (last - start_ns) % interval else 0), 1)
    return Spacing(interval, points, min(points / expected, 1.0))


def usable_coverage(series: EntitySeries, start_ns: int, horizon_ns: int, max_gap_ns: int) -> float:
    """Share of [start, horizon] spanned by consecutive valid readings within the tolerance."""
    if len(series) < 2 or horizon_ns <= start_ns:
        return 0.0
    valid = series.valid
    covered = valid[:-1] & valid[1:] & (np.diff(series.t) <= max_gap_ns)
    curve = Curve.from_intervals(series.t, np.zeros(len(covered)), covered)
    hours = float(curve.total(start_ns, horizon_ns).covered_h[0])
    return min(hours * NS_PER_H / (horizon_ns - start_ns), 1.0)


def known_coverage(series: EntitySeries, start_ns: int, horizon_ns: int) -> float:
    """Share of [start, horizon] with a known state (a state holds until the next one)."""
    if len(series) == 0 or horizon_ns <= start_ns:
        return 0.0
    t = np.concatenate((series.t, [max(horizon_ns, int(series.t[-1]))])).astype(np.int64)
    curve = Curve.from_intervals(t, np.zeros(len(series)), series.known)
    return min(
        float(curve.total(start_ns, horizon_ns).covered_h[0]) * NS_PER_H / (horizon_ns - start_ns),
        1.0,
    )


def gaps(series: EntitySeries, start_ns: int, horizon_ns: int, threshold_ns: int) -> list[Range]:
    """Silences between reports longer than the threshold, clipped to the window; a silence that
    follows an unavailable state is an unavailable period, not a gap."""
    t = series.t
    if len(t) < 2:
        return []
    long = (np.diff(t) > threshold_ns) & series.known[:-1]
    found = []
    for i in np.flatnonzero(long):
        a, b = max(int(t[i]), start_ns), min(int(t[i + 1]), horizon_ns)
        if b - a > 0:
            found.append((a, b))
    return found


def stale_since(series: EntitySeries, horizon_ns: int, interval_ns: int | None) -> int | None:
    """When the entity last reported, if it has been silent (in a known state) up to the horizon."""
    before = np.flatnonzero(series.t <= horizon_ns)
    if len(before) == 0 or before[-1] != len(series) - 1:
        return None
    last = int(before[-1])
    threshold = max(STALE_MIN_NS, STALE_FACTOR * (interval_ns or 15 * NS_PER_MIN))
    if not series.known[last] or horizon_ns - int(series.t[last]) <= threshold:
        return None
    return int(series.t[last])


def unavailable_periods(series: EntitySeries, start_ns: int, horizon_ns: int) -> list[Range]:
    """From an unavailable/unknown report until the next known one (or the horizon)."""
    t = np.concatenate((series.t, [max(horizon_ns, int(series.t[-1]) if len(series) else 0)]))
    periods = []
    for first, last in runs(~series.known):
        a, b = max(int(t[first]), start_ns), min(int(t[last + 1]), horizon_ns)
        if b > a:
            periods.append((a, b))
    return periods


def raw_order(cols: Columns, source: IntArray, by_time: IntArray, start: int, end: int) -> RawOrder:
    """Duplicates and out-of-order rows of one entity inside [start, end): `source` are its rows in
    the order the source delivered them, `by_time` the same rows stably sorted by time."""
    st = cols.t[by_time]
    inside = slice(int(np.searchsorted(st, start)), int(np.searchsorted(st, end)))
    rows, st = by_time[inside], st[inside]
    if len(rows) == 0:
        return RawOrder()
    ts = cols.t[source]
    if len(rows) < len(source):
        ts = ts[(ts >= start) & (ts < end)]
    running = np.maximum.accumulate(ts)
    late = ts[1:][ts[1:] < running[:-1]]
    dup = np.flatnonzero(st[1:] == st[:-1]) + 1
    return RawOrder(
        duplicates=len(dup),
        conflicting=_conflicting(cols, rows, dup),
        out_of_order=len(late),
        first_duplicate_ns=int(st[dup[0]]) if len(dup) else None,
        last_duplicate_ns=int(st[dup[-1]]) if len(dup) else None,
        first_late_ns=int(late[0]) if len(late) else None,
        late_span=(int(late.min()), int(late.max())) if len(late) else None,
    )


def _conflicting(cols: Columns, rows: IntArray, dup: IntArray) -> int:
    """Extra distinct states at duplicated timestamps (two different states at one time: 1)."""
    if len(dup) == 0:
        return 0
    involved = rows[np.unique(np.concatenate((dup - 1, dup)))]
    pairs = pd.DataFrame(
        {"t": cols.t[involved], "v": cols.value[involved], "s": cols.label[involved]}
    ).fillna({"v": np.inf})
    return int(pairs.drop_duplicates().duplicated("t").sum())
