"""What an analysis loads for its window, in one place: the chat path (the analysts) and
`aether analyze` call this, so both see the same rows and compute the same numbers."""

from __future__ import annotations

from datetime import timedelta

from aether.analysis.findings import AnalysisParams
from aether.data.source import DataSource, HouseholdData


async def load_for_analysis(source: DataSource, params: AnalysisParams) -> HouseholdData:
    """The window's states, the last state before it, and those up to `max_gap_minutes` after
    it: readings just after the window close its last interval (a meter's final delta, the last
    stretch of power to integrate); the analyses clip to the window themselves."""
    until = params.window_end + timedelta(minutes=params.max_gap_minutes)
    return await source.load(params.window_start, until, params.focus_entities or None)
