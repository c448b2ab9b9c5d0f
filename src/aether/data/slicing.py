"""Cutting a window out of a household: what every data source returns from `load`."""

from __future__ import annotations

from datetime import datetime

from aether.analysis.frames import clip_frame
from aether.analysis.periods import to_ns
from aether.data.source import HouseholdData


def slice_household(
    data: HouseholdData, start: datetime, end: datetime, entity_ids: list[str] | None = None
) -> HouseholdData:
    """States in [start, end) plus, per entity, the last state before `start`, so differencing and
    integration work at the window's edge. Pure: the input is not modified."""
    frame = clip_frame(data.frame, to_ns(start), to_ns(end), entity_ids)
    wanted = set(entity_ids) if entity_ids is not None else None
    entities = {k: v for k, v in data.entities.items() if wanted is None or k in wanted}
    return HouseholdData(frame=frame, entities=entities, timezone=data.timezone)
