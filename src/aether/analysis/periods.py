"""Time arithmetic on int64 nanoseconds (UTC) and calendar periods in the household's time zone.

Buckets are described by their edges; a day bucket runs from one local midnight to the next, so it
lasts 23 h or 25 h on DST days and day totals match the household's own clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

NS_PER_S: Final = 1_000_000_000
NS_PER_MIN: Final = 60 * NS_PER_S
NS_PER_H: Final = 60 * NS_PER_MIN
QUARTER_NS: Final = 15 * NS_PER_MIN
PERIODS: Final = ("day", "week", "month")


def to_ns(moment: datetime | pd.Timestamp) -> int:
    """A naive moment is taken as UTC, like the frame's timestamps."""
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.value)


def to_datetime(ns: int) -> datetime:
    return pd.Timestamp(int(ns), unit="ns", tz="UTC").to_pydatetime()


def to_local(ns: int, timezone: str) -> pd.Timestamp:
    return pd.Timestamp(int(ns), unit="ns", tz="UTC").tz_convert(timezone)


def local_index(ns: IntArray, timezone: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(ns, unit="ns", utc=True)).tz_convert(timezone)


def with_bounds(start_ns: int, end_ns: int, inner: IntArray) -> IntArray:
    """Edges of the buckets that tile [start, end): the window bounds plus the inner marks."""
    inside = inner[(inner > start_ns) & (inner < end_ns)]
    return np.concatenate(([start_ns], inside, [end_ns])).astype(np.int64)


def quarter_edges(start_ns: int, end_ns: int) -> IntArray:
    """15-minute marks are aligned to local quarter hours in every time zone in use."""
    first = -(-start_ns // QUARTER_NS) * QUARTER_NS
    return with_bounds(start_ns, end_ns, np.arange(first, end_ns, QUARTER_NS, dtype=np.int64))


def local_midnights(first: date, last: date, timezone: str) -> IntArray:
    """UTC instants of the local midnights of the days first..last (inclusive)."""
    days = pd.date_range(first, last, freq="D")
    local = days.tz_localize(
        timezone, ambiguous=np.ones(len(days), dtype=bool), nonexistent="shift_forward"
    )
    return np.asarray(local.as_unit("ns").asi8, dtype=np.int64)


def local_day_edges(start_ns: int, end_ns: int, timezone: str) -> tuple[IntArray, list[date]]:
    """Day buckets clipped to the window, and the local date of each."""
    first = to_local(start_ns, timezone).date()
    last = to_local(end_ns - 1, timezone).date()
    midnights = local_midnights(first, last + timedelta(days=1), timezone)
    edges = with_bounds(start_ns, end_ns, midnights)
    labels = [to_local(int(edge), timezone).date() for edge in edges[:-1]]
    return edges, labels


def _period_starts(first: date, last: date, period: str) -> list[date]:
    """Local dates on which the periods touching first..last begin, plus the one after last."""
    if period == "day":
        start, step = first, timedelta(days=1)
        return [start + step * i for i in range((last - start).days + 2)]
    if period == "week":
        start = first - timedelta(days=first.weekday())
        return [start + timedelta(weeks=i) for i in range((last - start).days // 7 + 2)]
    months = (last.year - first.year) * 12 + last.month - first.month + 2
    return [
        date(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1)
        for i in range(months)
    ]


@dataclass(frozen=True)
class Periods:
    """Local calendar periods clipped to a window."""

    edges: IntArray
    labels: list[date]
    """The local date each period begins on (the whole period's first day, even when clipped)."""
    complete: BoolArray
    """The period lies entirely inside the window."""

    def hours(self) -> FloatArray:
        return np.diff(self.edges).astype(np.float64) / NS_PER_H


def local_periods(start_ns: int, end_ns: int, timezone: str, period: str) -> Periods:
    """Buckets of local days, weeks (Monday to Monday) or calendar months, each from local
    midnight to local midnight (so a day is 23 h or 25 h at a DST change), clipped to the window."""
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}; expected one of {PERIODS}")
    first = to_local(start_ns, timezone).date()
    last = to_local(end_ns - 1, timezone).date()
    starts = _period_starts(first, last, period)
    days = pd.DatetimeIndex(starts)
    local = days.tz_localize(
        timezone, ambiguous=np.ones(len(days), dtype=bool), nonexistent="shift_forward"
    )
    marks = np.asarray(local.as_unit("ns").asi8, dtype=np.int64)
    edges = with_bounds(start_ns, end_ns, marks)
    which = np.searchsorted(marks, edges[:-1], side="right") - 1
    complete = (marks[which] == edges[:-1]) & (marks[which + 1] == edges[1:])
    return Periods(edges, [starts[int(i)] for i in which], np.asarray(complete, dtype=bool))


def local_time_ns(day: date, clock: time, timezone: str) -> int:
    naive = pd.Timestamp(datetime.combine(day, clock))
    return int(naive.tz_localize(timezone, ambiguous=True, nonexistent="shift_forward").value)


def local_window_days(start_ns: int, end_ns: int, timezone: str) -> list[date]:
    """Every local date the window touches."""
    first = to_local(start_ns, timezone).date()
    last = to_local(end_ns - 1, timezone).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def hours(ns: int | float) -> float:
    return float(ns) / NS_PER_H
