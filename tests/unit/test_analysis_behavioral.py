"""The behavioral analyst on planted switch histories."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from aether.analysis.findings import AnalysisParams, AnalysisResult, Finding
from aether.analysis.frames import long_frame
from aether.analysis.recurring import find_routines
from aether.analysis.registry import run_analysis
from aether.analysis.schema import EntityMeta

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 2, tzinfo=BERLIN)
TWO_WEEKS = MONDAY + timedelta(days=14)
# Minutes off 19:00 on each weekday of the two weeks; None = not switched on that day.
LIVING_ROOM = [-10, 5, None, 12, -3, 0, 8, None, -15, 4]
ENTITIES = {
    e: EntityMeta(entity_id=e, friendly_name=e)
    for e in ("light.living_room", "light.garden", "switch.random")
}


def at(day: int, hour: float) -> datetime:
    local = datetime.combine((MONDAY + timedelta(days=day)).date(), datetime.min.time())
    return (local + timedelta(hours=hour)).replace(tzinfo=BERLIN)


def events(entity_id: str, pairs: list[tuple[datetime, datetime]]) -> pd.DataFrame:
    times = [MONDAY - timedelta(days=1)] + [t for pair in pairs for t in pair]
    states = ["off"] + ["on", "off"] * len(pairs)
    return long_frame(entity_id, times, states)


def planted() -> pd.DataFrame:
    weekdays = [d for d in range(14) if (MONDAY + timedelta(days=d)).weekday() < 5]
    living = [
        (at(day, 19 + offset / 60), at(day, 23))
        for day, offset in zip(weekdays, LIVING_ROOM, strict=True)
        if offset is not None
    ]
    garden = [(at(d, 18), at(d + 1, 7)) for d in (1, 5, 9)] + [(at(3, 18), at(3, 22))]
    scattered = [(at(d, h), at(d, h + 0.5)) for d, h in [(0, 3), (2, 9), (4, 14), (6, 20), (8, 1)]]
    return pd.concat(
        [
            events("light.living_room", living),
            events("light.garden", garden),
            events("switch.random", scattered),
        ]
    )


def analyse(end: datetime = TWO_WEEKS) -> AnalysisResult:
    p = AnalysisParams(
        window_start=MONDAY,
        window_end=end,
        timezone="Europe/Berlin",
        window_label="the last two weeks",
    )
    return run_analysis("behavioral", planted(), ENTITIES, p)


def of(result: AnalysisResult, kind: str, entity_id: str) -> list[Finding]:
    return [f for f in result.findings if f.kind == kind and f.entities == [entity_id]]


def test_recurring_switch_on_is_found_with_its_support() -> None:
    (routine,) = of(analyse(), "recurring_action", "light.living_room")
    switch_on = next(e for e in routine.evidence if e.data["action"] == "on")
    assert switch_on.data["support_days"] == 8
    assert switch_on.data["days"] == "weekdays"
    assert switch_on.data["eligible_days"] == 10
    assert switch_on.data["time"] == "19:00"
    assert 0.5 < switch_on.data["confidence"] <= 0.95
    assert "around 19:00 on weekdays (8 of 10 days)" in routine.summary


def test_scattered_actions_are_not_a_routine() -> None:
    assert of(analyse(), "recurring_action", "switch.random") == []


def test_light_left_on_overnight_is_found() -> None:
    (night,) = of(analyse(), "left_on_overnight", "light.garden")
    values = {m.name: m.value for m in night.metrics}
    assert values["nights_left_on"] == 3
    assert values["night_on_time"] == pytest.approx(18.0)
    assert night.evidence[0].start == at(2, 0)


def test_usage_counts_on_hours_by_weekday_and_hour() -> None:
    (usage,) = of(analyse(), "usage_pattern", "light.living_room")
    values = {m.name: m.value for m in usage.metrics}
    expected = sum(4 - offset / 60 for offset in LIVING_ROOM if offset is not None)
    assert values["on_time"] == pytest.approx(expected, abs=1e-3)
    assert values["switch_on_count"] == 8
    matrix = usage.evidence[0].data["on_hours_by_weekday_hour"]
    assert matrix[0][20] == pytest.approx(2.0)  # two Mondays, on through 20:00-21:00
    assert sum(matrix[5]) == 0.0  # never on a Saturday
    assert "between 19:00 and 23:00" in usage.summary


def test_short_windows_lower_confidence() -> None:
    assert analyse().confidence > 0.9
    assert analyse(MONDAY + timedelta(days=2)).confidence < 0.6


def test_routine_around_midnight_is_one_cluster() -> None:
    days = [(MONDAY + timedelta(days=d)).date() for d in range(10)]
    times = [at(d, 23 + 50 / 60) if d % 2 else at(d, 10 / 60) for d in range(9)]
    ns = np.asarray([pd.Timestamp(t).value for t in times], dtype=np.int64)
    (routine,) = find_routines(ns, "on", "Europe/Berlin", days)
    assert routine.support_days == 9
    assert routine.days == "every day"
    assert min(routine.minute, 1440 - routine.minute) < 5
