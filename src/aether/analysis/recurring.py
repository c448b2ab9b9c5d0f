"""Recurring actions: the same switch action at about the same local time on many days.

Events are clustered on the 24-hour clock (circularly, so 23:50 and 00:10 are 20 min apart): the
minute of the day whose ±30 min tolerance holds events on the most distinct days wins, its centre
is moved to the circular mean of the events around it (a few mean-shift steps), and the search
repeats on the remaining events. A cluster is a routine when it happened on at least 3 days and on
at least half of the days of its kind (weekdays, weekends or every day). Support = the number of
distinct days it happened on. Cost is linear in events and days, so busy switches are cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np
import numpy.typing as npt

from aether.analysis.periods import IntArray, local_index
from aether.analysis.units import FloatArray

TOLERANCE_MIN: Final = 30.0
MIN_SUPPORT: Final = 3
MIN_RATIO: Final = 0.5
DAY = 1440.0
MEAN_SHIFT_STEPS: Final = 3
MAX_CLUSTERS: Final = 8


@dataclass(frozen=True)
class Routine:
    action: str
    minute: float
    """Typical local time, in minutes after midnight."""
    spread_min: float
    support_days: int
    """Distinct days on which the action happened within the tolerance."""
    pattern_days: int
    """Of those, the days of the routine's kind (e.g. weekdays)."""
    eligible_days: int
    """Days of that kind in the window."""
    days: str
    """`weekdays`, `weekends` or `every day`."""
    dates: list[date]
    confidence: float


def circular_distance(a: FloatArray, b: FloatArray) -> FloatArray:
    d = np.abs(a - b) % DAY
    return np.minimum(d, DAY - d)


def circular_mean(minutes: FloatArray) -> float:
    angle = minutes / DAY * 2 * np.pi
    mean = np.arctan2(np.sin(angle).mean(), np.cos(angle).mean())
    return float((mean / (2 * np.pi) * DAY) % DAY)


def busiest_minute(minutes: FloatArray, day_ids: IntArray) -> int:
    """The minute of the day whose ±tolerance window holds events on the most distinct days."""
    width = int(TOLERANCE_MIN)
    grid = np.zeros((int(day_ids.max()) + 1, int(DAY)), dtype=np.int32)
    grid[day_ids, minutes.astype(np.int64) % int(DAY)] = 1
    wrapped = np.concatenate((grid[:, -width:], grid, grid[:, :width]), axis=1)
    running = np.concatenate((np.zeros((len(grid), 1), np.int32), wrapped.cumsum(axis=1)), axis=1)
    per_day = running[:, 2 * width + 1 :] - running[:, : int(DAY)]
    return int(np.argmax((per_day > 0).sum(axis=0)))


def _within(minutes: FloatArray, centre: float) -> npt.NDArray[np.bool_]:
    return circular_distance(minutes, np.full(len(minutes), centre)) <= TOLERANCE_MIN


def _cluster(minutes: FloatArray, day_ids: IntArray) -> tuple[float, npt.NDArray[np.bool_]]:
    """Centre and members of the strongest cluster."""
    centre = float(busiest_minute(minutes, day_ids))
    for _ in range(MEAN_SHIFT_STEPS):
        centre = circular_mean(minutes[_within(minutes, centre)])
    return centre, _within(minutes, centre)


def _kinds(weekday_ratio: float, weekend_ratio: float) -> list[str]:
    """Candidate kinds, most specific first; `every day` is always the fallback."""
    if weekday_ratio >= MIN_RATIO and weekend_ratio >= MIN_RATIO:
        return ["every day"]
    if weekday_ratio - weekend_ratio >= 0.3:
        return ["weekdays", "every day"]
    if weekend_ratio - weekday_ratio >= 0.3:
        return ["weekends", "every day"]
    return ["every day"]


def _classify(distinct: list[date], window_days: list[date]) -> tuple[str, int, int] | None:
    """The routine's kind, the days it happened of that kind and the days of that kind."""
    weekdays = sum(d.weekday() < 5 for d in window_days)
    weekends = len(window_days) - weekdays
    on_weekdays = sum(d.weekday() < 5 for d in distinct)
    counts = {
        "weekdays": (on_weekdays, weekdays),
        "weekends": (len(distinct) - on_weekdays, weekends),
        "every day": (len(distinct), len(window_days)),
    }
    wd_ratio = on_weekdays / weekdays if weekdays else 0.0
    we_ratio = counts["weekends"][0] / weekends if weekends else 0.0
    for kind in _kinds(wd_ratio, we_ratio):
        pattern, eligible = counts[kind]
        if pattern >= MIN_SUPPORT and eligible and pattern / eligible >= MIN_RATIO:
            return kind, pattern, eligible
    return None


def _routine(
    action: str,
    centre: float,
    member_min: FloatArray,
    member_days: list[date],
    window_days: list[date],
) -> Routine | None:
    distinct = sorted(set(member_days))
    classified = _classify(distinct, window_days)
    if classified is None:
        return None
    kind, pattern, eligible = classified
    deviation = circular_distance(member_min, np.full_like(member_min, centre))
    spread = float(np.sqrt(np.mean(deviation**2)))
    tightness = 1.0 - 0.5 * min(spread / TOLERANCE_MIN, 1.0)
    conf = 0.95 * min(pattern / eligible, 1.0) * tightness * min(eligible / 5.0, 1.0)
    return Routine(
        action, centre, spread, len(distinct), pattern, eligible, kind, distinct, round(conf, 3)
    )


def find_routines(
    events_ns: IntArray, action: str, timezone: str, window_days: list[date]
) -> list[Routine]:
    if len(events_ns) < MIN_SUPPORT or not window_days:
        return []
    local = local_index(events_ns, timezone)
    minutes = np.asarray(local.hour * 60 + local.minute + local.second / 60.0, dtype=np.float64)
    dates = list(local.date)
    day_ids = np.asarray([(d - window_days[0]).days for d in dates], dtype=np.int64)
    remaining = np.ones(len(minutes), dtype=bool)
    routines: list[Routine] = []
    for _ in range(MAX_CLUSTERS):
        if remaining.sum() < MIN_SUPPORT:
            break
        rows = np.flatnonzero(remaining)
        centre, members = _cluster(minutes[rows], day_ids[rows])
        chosen = rows[members]
        member_dates = [dates[i] for i in chosen]
        if len(set(member_dates)) < MIN_SUPPORT:
            break
        routine = _routine(action, centre, minutes[chosen], member_dates, window_days)
        if routine is not None:
            routines.append(routine)
        remaining[chosen] = False
    return sorted(routines, key=lambda r: r.confidence, reverse=True)
