"""Turns a question into the parameters of an analysis: the window and the defaults."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from aether.agents.periods import resolve_window
from aether.analysis.findings import AnalysisParams

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def plan_analysis(question: str, now: datetime, timezone: str) -> AnalysisParams:
    window = resolve_window(question, now, timezone)
    return AnalysisParams(
        window_start=window.start,
        window_end=window.end,
        timezone=timezone,
        window_label=window.label,
    )
