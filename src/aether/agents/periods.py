"""Turns the period a person names ("last week", "past 3 days") into a window in their time zone.

Windows are half-open [start, end) and aligned to local midnights, so day totals match what the
household sees on its own clock, DST included. Bounds are returned in UTC: arithmetic on aware
datetimes of one zone ignores DST, arithmetic in UTC does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_DAYS = 7
MAX_DAYS = 366

_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twelve": 12,
    "fourteen": 14,
    "thirty": 30,
}
_AMOUNT = r"(\d{1,3}|" + "|".join(_NUMBER_WORDS) + r")"
_LAST_N = re.compile(rf"\b(?:last|past|previous)\s+{_AMOUNT}\s+(day|week|month|hour)s?\b")
_LAST_UNIT = re.compile(r"\b(?:last|past|previous)\s+(day|week|month|24 hours)\b")


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    label: str


def resolve_window(question: str, now: datetime, timezone: str) -> Window:
    """The window a question is about; the last seven full days when it names none."""
    zone = ZoneInfo(timezone)
    utc_now = now.astimezone(UTC)
    today = now.astimezone(zone).date()
    text = question.lower()
    if match := _LAST_N.search(text):
        return _last_n(_amount(match.group(1)), match.group(2), utc_now, today, zone)
    if "yesterday" in text:
        return _days(today - timedelta(days=1), today, zone, "yesterday")
    if "today" in text:
        return Window(_midnight(today, zone), utc_now, f"today ({_fmt(today)})")
    if "this week" in text:
        monday = today - timedelta(days=today.weekday())
        return Window(_midnight(monday, zone), utc_now, f"this week (since {_fmt(monday)})")
    if "this month" in text:
        first = today.replace(day=1)
        return Window(_midnight(first, zone), utc_now, f"this month (since {_fmt(first)})")
    if match := _LAST_UNIT.search(text):
        return _last_unit(match.group(1), utc_now, today, zone)
    return _days(today - timedelta(days=DEFAULT_DAYS), today, zone, "the last 7 days")


def _amount(word: str) -> int:
    value = int(word) if word.isdigit() else _NUMBER_WORDS[word]
    return max(1, value)


def _last_n(amount: int, unit: str, utc_now: datetime, today: date, zone: ZoneInfo) -> Window:
    if unit == "hour":
        hours = min(amount, MAX_DAYS * 24)
        return Window(utc_now - timedelta(hours=hours), utc_now, f"the last {hours} hours")
    days = min(amount * {"day": 1, "week": 7, "month": 30}[unit], MAX_DAYS)
    label = f"the last {amount} {unit}s" if amount > 1 else f"the last {unit}"
    return _days(today - timedelta(days=days), today, zone, label)


def _last_unit(unit: str, utc_now: datetime, today: date, zone: ZoneInfo) -> Window:
    if unit == "24 hours":
        return Window(utc_now - timedelta(hours=24), utc_now, "the last 24 hours")
    if unit == "day":
        return _days(today - timedelta(days=1), today, zone, "yesterday")
    if unit == "week":
        monday = today - timedelta(days=today.weekday())
        return _days(monday - timedelta(days=7), monday, zone, "last week")
    first = today.replace(day=1)
    previous = (first - timedelta(days=1)).replace(day=1)
    return _days(previous, first, zone, "last month")


def _days(first: date, end: date, zone: ZoneInfo, label: str) -> Window:
    last = end - timedelta(days=1)
    span = _fmt(first) if first == last else f"{_fmt(first)}–{_fmt(last)}"
    return Window(_midnight(first, zone), _midnight(end, zone), f"{label} ({span})")


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _fmt(day: date) -> str:
    return f"{day.day} {day:%b} {day.year}"
