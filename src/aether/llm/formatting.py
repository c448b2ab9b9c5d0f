"""How figures, periods and names read in answers: one place, so every answer formats alike."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta, tzinfo
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


def format_number(value: float, decimals: int) -> str:
    """Thousands separators, fixed decimals, and never a negative zero."""
    text = f"{value:,.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0 else text


def format_quantity(value: float, unit: str) -> str:
    """`312.4 kWh`, `180 W`, `12%`, `4.5%`, `1.25 kW`: precision follows the unit."""
    key = unit.strip().lower()
    if key == "%":
        return f"{format_number(value, 0 if abs(value) >= 10 else 1)}%"
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
    """`baseload_w` -> `baseload`, `night_share` -> `night share`: a machine name made readable."""
    words = [word for word in name.replace("-", "_").split("_") if word]
    if len(words) > 1 and (words[-1].lower() in _UNIT_SUFFIXES or words[-1] == unit.lower()):
        words = words[:-1]
    return " ".join(words) if words else name


def entity_label(entity_id: str, names: Mapping[str, str]) -> str:
    """The friendly name when known, else the entity id (as code, so it reads as an identifier)."""
    name = names.get(entity_id)
    return name if name else f"`{entity_id}`"


def format_confidence(confidence: float) -> str:
    return f"{round(confidence * 100)}%"


def format_moment(at: datetime, tz: tzinfo | None = None) -> str:
    local = at.astimezone(tz) if tz is not None and at.tzinfo is not None else at
    return f"{_day(local)} {local:%H:%M}"


def format_period(start: datetime, end: datetime, tz: tzinfo | None = None) -> str:
    """`1–7 Mar 2025` for whole days (end exclusive at midnight), with times otherwise."""
    first = start.astimezone(tz) if tz is not None and start.tzinfo is not None else start
    last = end.astimezone(tz) if tz is not None and end.tzinfo is not None else end
    if first.time() == time(0) and last.time() == time(0) and last > first:
        return _day_range(first, last - timedelta(days=1))
    if first.date() == last.date():
        return f"{_day(first)}, {first:%H:%M}–{last:%H:%M}"
    return f"{_day(first)} {first:%H:%M} – {_day(last)} {last:%H:%M}"


def metric_value(metric: Metric) -> str:
    return format_quantity(metric.value, metric.unit)


def ensure_sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?:" else f"{text}."


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
