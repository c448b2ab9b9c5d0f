"""A household held in memory as a DataSource: `aether analyze FILE` reads a file into one, so
a file is analysed exactly as it would be after `aether data import`."""

from __future__ import annotations

from datetime import datetime

from aether.analysis.schema import EntityMeta
from aether.data.slicing import slice_household
from aether.data.source import HouseholdData


class MemoryHouseholdSource:
    def __init__(self, data: HouseholdData) -> None:
        self._data = data

    async def timezone(self) -> str:
        return self._data.timezone

    async def entities(self) -> list[EntityMeta]:
        return list(self._data.entities.values())

    async def load(
        self, start: datetime, end: datetime, entity_ids: list[str] | None = None
    ) -> HouseholdData:
        """States in [start, end), plus the last state before `start` of each entity."""
        return slice_household(self._data, start, end, entity_ids)
