"""The one interface every data source implements (demo household, Home Assistant, files)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import pandas as pd

from aether.analysis.schema import EntityMeta


@dataclass(frozen=True)
class HouseholdData:
    """A slice of the household's history: the long frame (see analysis.schema) and its entities."""

    frame: pd.DataFrame
    entities: dict[str, EntityMeta]
    timezone: str


class DataSource(Protocol):
    async def entities(self) -> list[EntityMeta]:
        """Every entity the source knows, with units and classes."""
        ...

    async def load(
        self, start: datetime, end: datetime, entity_ids: list[str] | None = None
    ) -> HouseholdData:
        """States reported in [start, end), plus the last state before `start` of each entity."""
        ...
