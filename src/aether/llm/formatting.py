"""How figures, periods and names read in answers: one place, so every answer formats alike."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Final

from aether.analysis.findings import Metric

_DECIMALS_BY_UNIT: Final[Mapping[str, int]] = {
    "kwh": 1,
    "mwh": 2,
    "wh": 0,
    "w": 0,
    "kw": 2,
    "v": 0,
    "a": 1,
    "h": 1,
    "h/day": 1,
    "kwh/h": 1,
    "min": 0,
    "s": 0,
    "°c": 1,
    "eur": 2,
    "€": 2,
    "usd": 2,
    "$": 2,
    "gbp": 2,
    "£": 2,
    "ct/kwh": 1,
    "eur/kwh": 3,
    "€/kwh": 3,
}
_COUNT_UNITS: Final = frozenset({"count", "", "x", "times", "events", "days"})
_UNIT_SUFFIXES: Final = frozenset(
    {"kwh", "wh", "w", "kw", "mwh", "pct", "percent", "h", "hours", "count", "eur", "ratio"}
)
_CLOCK_METRICS: Final = frozenset({"typical_time", "time_of_day"})
"""Metrics in hours that are a time of day (7.03 h is 07:02), not a duration."""
_METRIC_WORDS: Final[Mapping[str, str]] = {
    "on_time": "on",
    "on_time_per_day": "on",
    "switch_on_count": "switch-ons",
}
"""Machine names that no mechanical rule makes readable."""
_HOUR_METRIC: Final = re.compile(r"hour_(\d{1,2})")
_BUSY_SHARE: Final = 0.7
"""An hour belongs to the busiest stretch when it has at least this share of the busiest hour."""
_QUIET_BAND: Final = 0.1
"""An hour belongs to the quietest stretch when it is within this share of the range of the
quietest hour."""
_MAX_STRETCH: Final = 6
"""Hours at most in a busiest or quietest stretch: longer is no longer a time of day."""
_MAX_LISTED_DAYS: Final = 7


def format_number(value: float, decimals: int) -> str:
    """Thousands separators, fixed decimals, and never a negative zero."""
    text = f"{value:,.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0 else text


def format_quantity(value: float, unit: str) -> str:
    """`312.4 kWh`, `180 W`, `12 %`, `0.5 %`, `1.25 kW`: precision follows the unit.

    Percentages are written as the analysts' summaries write them (a space before `%`, whole
    numbers from 1 %), so a share reads the same in a summary and in a bullet."""
    key = unit.strip().lower()
    if key == "%":
        return f"{format_number(value, 0 if abs(value) >= 1 or value == 0 else 1)} %"
    if key in _COUNT_UNITS:
        decimals = 0 if float(value).is_integer() else 1
        suffix = f" {unit.strip()}" if key not in {"count", ""} else ""
        return f"{format_number(value, decimals)}{suffix}"
    return f"{format_number(value, _decimals(key, value))} {unit.strip()}"


def _decimals(unit_key: str, value: float) -> int:
    if unit_key in _DECIMALS_BY_UNIT:
        return _DECIMALS_BY_UNIT[unit_key]
    if unit_key.startswith("kwh/"):
        return 1
    # Unknown unit: about three significant figures.
    return 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2


def is_count(unit: str) -> bool:
    return unit.strip().lower() in _COUNT_UNITS


def humanize_name(name: str, unit: str = "") -> str:
    """`baseload_w` -> `baseload`, `night_share` -> `night share`: a machine name made readable.

    A trailing "per day" goes when the unit says it already (`on_time_per_day` in h/day)."""
    if name in _METRIC_WORDS:
        return _METRIC_WORDS[name]
    words = [word for word in name.replace("-", "_").split("_") if word]
    if len(words) > 1 and (words[-1].lower() in _UNIT_SUFFIXES or words[-1] == unit.lower()):
        words = words[:-1]
    if len(words) > 2 and words[-2:] == ["per", "day"] and unit.lower().endswith("/day"):
        words = words[:-2]
    return " ".join(words) if words else name


def entity_label(entity_id: str, names: Mapping[str, str]) -> str:
    """The friendly name when known, else the entity id (as code, so it reads as an identifier)."""
    name = names.get(entity_id)
    return name if name else f"`{entity_id}`"


def format_confidence(confidence: float) -> str:
    return f"{round(confidence * 100)} %"


def format_moment(at: datetime, tz: tzinfo | None = None) -> str:
    """`6 Mar 2025 18:15`: with the year, for text that may be read out of context (prompts)."""
    local = _local(at, tz)
    return f"{_day(local)} {local:%H:%M}"


def format_when(at: datetime, tz: tzinfo | None = None) -> str:
    """`Thu 6 Mar 18:15`: the weekday helps more than the year inside an answer that has
    already named its period."""
    local = _local(at, tz)
    return f"{format_day(local.date())} {local:%H:%M}"


def format_day(day: date) -> str:
    """`Mon 16 Nov`, as the analysts' summaries write days."""
    return f"{day:%a} {day.day} {day:%b}"


def format_clock(hours: float) -> str:
    """A time of day in hours (7.033) as a clock time (`07:02`)."""
    minutes = round(hours * 60) % 1440
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def format_period(start: datetime, end: datetime, tz: tzinfo | None = None) -> str:
    """`1–7 Mar 2025` for whole days (end exclusive at midnight), with times otherwise."""
    days = format_day_range(start, end, tz)
    if days is not None:
        return days
    first, last = _local(start, tz), _local(end, tz)
    if first.date() == last.date():
        return f"{_day(first)}, {first:%H:%M}–{last:%H:%M}"
    return f"{_day(first)} {first:%H:%M} – {_day(last)} {last:%H:%M}"


def format_day_range(start: datetime, end: datetime, tz: tzinfo | None = None) -> str | None:
    """`1–7 Mar 2025` when [start, end) is whole local days, else None."""
    first, last = _local(start, tz), _local(end, tz)
    if first.time() == time(0) and last.time() == time(0) and last > first:
        return _day_range(first, last - timedelta(days=1))
    return None


def metric_value(metric: Metric) -> str:
    """The value with its unit; a time of day as a clock time."""
    if is_clock(metric):
        return format_clock(metric.value)
    return format_quantity(metric.value, metric.unit)


def is_clock(metric: Metric) -> bool:
    return metric.name in _CLOCK_METRICS and metric.unit.strip().lower() == "h"


def metric_day(metric: Metric) -> date | None:
    """The local day a daily metric is named after (`2026-11-16`), else None."""
    try:
        return date.fromisoformat(metric.name)
    except ValueError:
        return None


def metric_hour(metric: Metric) -> int | None:
    """The hour of day an hourly-profile metric is named after (`hour_07`), else None."""
    match = _HOUR_METRIC.fullmatch(metric.name)
    return int(match.group(1)) % 24 if match else None


def day_series_text(days: Sequence[tuple[date, Metric]]) -> str:
    """`Mon 16 Nov 20.3 kWh, Tue 17 Nov 13.2 kWh, ...` for a week; for longer series only the
    lowest and highest day, because a list of 30 figures is not something a person reads."""
    if len(days) <= _MAX_LISTED_DAYS:
        return ", ".join(f"{format_day(day)} {metric_value(m)}" for day, m in days)
    low = min(days, key=lambda item: item[1].value)
    high = max(days, key=lambda item: item[1].value)
    return (
        f"lowest {format_day(low[0])} {metric_value(low[1])}, "
        f"highest {format_day(high[0])} {metric_value(high[1])} ({len(days)} days)"
    )


def hour_profile_text(profile: Mapping[int, float], unit: str) -> str:
    """`busiest 18:00–20:00 (2.7 kWh/h on average), quietest 08:00–16:00 (0.2 kWh/h)`: the
    shape of a 24-value profile in one line instead of 24 figures."""
    top = max(profile, key=lambda h: profile[h])
    low = min(profile, key=lambda h: profile[h])
    busy = _stretch(profile, top, lambda v: v >= profile[top] * _BUSY_SHARE, 1)
    quiet_limit = profile[low] + (profile[top] - profile[low]) * _QUIET_BAND
    quiet = _stretch(profile, low, lambda v: v <= quiet_limit, -1)
    per_hour = f"{unit.strip()}/h"
    return (
        f"busiest {_hours_span(busy)} ({_mean_of(profile, busy, per_hour)} on average), "
        f"quietest {_hours_span(quiet)} ({_mean_of(profile, quiet, per_hour)})"
    )


def capitalise(text: str) -> str:
    """Sentence case for the first letter, past Markdown emphasis; an entity id that opens the
    text (`light.garden ...`) stays as it is."""
    start = len(text) - len(text.lstrip("*_ "))
    word = text[start:].split(" ", 1)[0]
    if "." in word.rstrip(".,:;") and word[:1].islower():
        return text
    return text[:start] + text[start : start + 1].upper() + text[start + 1 :]


def ensure_sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?:" else f"{text}."


def _local(moment: datetime, tz: tzinfo | None) -> datetime:
    return moment.astimezone(tz) if tz is not None and moment.tzinfo is not None else moment


def _stretch(
    profile: Mapping[int, float], centre: int, inside: Callable[[float], bool], sign: int
) -> list[int]:
    """The run of consecutive hours around `centre` (wrapping at midnight) that are `inside`,
    at most `_MAX_STRETCH` long: it grows towards the more extreme neighbour (`sign` 1 for the
    higher, -1 for the lower), so a flat profile does not make the whole day "quietest"."""

    def value(hour: int) -> float | None:
        level = profile.get(hour % 24)
        return level if level is not None and inside(level) else None

    first, length = centre, 1
    while length < _MAX_STRETCH:
        before, after = value(first - 1), value(first + length)
        if before is None and after is None:
            break
        if after is None or (
            before is not None and _earlier_wins(before, after, sign, first, centre, length)
        ):
            first -= 1
        length += 1
    return [(first + i) % 24 for i in range(length)]


def _earlier_wins(
    before: float, after: float, sign: int, first: int, centre: int, length: int
) -> bool:
    """Grow towards the more extreme neighbour; on a tie, towards the shorter side, so that a
    flat stretch stays centred on its extreme hour."""
    if before != after:
        return sign * before > sign * after
    return centre - first <= first + length - 1 - centre


def _hours_span(hours: list[int]) -> str:
    return f"{hours[0]:02d}:00–{(hours[-1] + 1) % 24:02d}:00"


def _mean_of(profile: Mapping[int, float], hours: list[int], unit: str) -> str:
    return format_quantity(sum(profile[h] for h in hours) / len(hours), unit)


def _day(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y}"


def _day_range(first: datetime, last: datetime) -> str:
    if first.date() == last.date():
        return _day(first)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{_day(last)}"
    if first.year == last.year:
        return f"{first.day} {first:%b} – {_day(last)}"
    return f"{_day(first)} – {_day(last)}"
