from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from aether.agents.periods import resolve_window

BERLIN = "Europe/Berlin"
# Wednesday 2026-11-18, 10:30 local time.
NOW = datetime(2026, 11, 18, 9, 30, tzinfo=UTC)


def local(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=ZoneInfo(BERLIN))


def test_last_week_is_the_previous_monday_to_monday() -> None:
    window = resolve_window("How much energy did I use last week?", NOW, BERLIN)
    assert window.start == local(2026, 11, 9)
    assert window.end == local(2026, 11, 16)
    assert window.label == "last week (9 Nov 2026–15 Nov 2026)"


def test_default_is_the_last_seven_full_days() -> None:
    window = resolve_window("What is my baseload?", NOW, BERLIN)
    assert (window.start, window.end) == (local(2026, 11, 11), local(2026, 11, 18))


def test_yesterday_and_today() -> None:
    yesterday = resolve_window("yesterday's usage", NOW, BERLIN)
    assert (yesterday.start, yesterday.end) == (local(2026, 11, 17), local(2026, 11, 18))
    today = resolve_window("today so far", NOW, BERLIN)
    assert today.start == local(2026, 11, 18)
    assert today.end == NOW


@pytest.mark.parametrize(
    ("phrase", "days"),
    [("last 3 days", 3), ("past two weeks", 14), ("previous 30 days", 30), ("last 1 day", 1)],
)
def test_last_n_units(phrase: str, days: int) -> None:
    window = resolve_window(f"usage in the {phrase}", NOW, BERLIN)
    assert window.end == local(2026, 11, 18)
    assert window.start == local(2026, 11, 18) - timedelta(days=days)


def test_last_month_is_the_previous_calendar_month() -> None:
    window = resolve_window("last month", NOW, BERLIN)
    assert (window.start, window.end) == (local(2026, 10, 1), local(2026, 11, 1))


def test_windows_across_dst_keep_local_midnights() -> None:
    # The week containing the end of summer time (25 Oct 2026) has 169 hours.
    now = datetime(2026, 10, 28, 12, tzinfo=UTC)
    window = resolve_window("last week", now, BERLIN)
    assert window.start == local(2026, 10, 19)
    assert window.end == local(2026, 10, 26)
    assert window.end - window.start == timedelta(days=7, hours=1)


def test_last_24_hours_is_a_rolling_window() -> None:
    window = resolve_window("what happened in the last 24 hours", NOW, BERLIN)
    assert window.end - window.start == timedelta(hours=24)
