"""Time arithmetic on int64 nanoseconds (UTC) and calendar periods in the household's time zone.

Buckets are described by their edges; a day bucket runs from one local midnight to the next, so it
lasts 23 h or 25 h on DST days and day totals match the household's own clock.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

IntArray = npt.NDArray[np.int64]

NS_PER_S: Final = 1_000_000_000
NS_PER_MIN: Final = 60 * NS_PER_S
NS_PER_H: Final = 60 * NS_PER_MIN
QUARTER_NS: Final = 15 * NS_PER_MIN


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
