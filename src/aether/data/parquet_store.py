"""A household on disk: `household.parquet` (the long frame) and `entities.json` (time zone and
entity metadata). Files are written atomically (temp file, then rename), so a reader never sees
half a household; `ParquetHouseholdSource` reads them once and serves windows from memory."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Final

import pandas as pd

from aether.analysis.frames import normalise_frame
from aether.analysis.schema import EntityMeta
from aether.data.errors import INVALID_FILE, NO_DATA, DataSourceError
from aether.data.slicing import slice_household
from aether.data.source import HouseholdData

FRAME_FILE: Final = "household.parquet"
ENTITIES_FILE: Final = "entities.json"


def has_household(data_dir: Path) -> bool:
    return (data_dir / FRAME_FILE).is_file() and (data_dir / ENTITIES_FILE).is_file()


def _atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    temp = Path(name)
    try:
        write(temp)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def write_household(data: HouseholdData, data_dir: Path) -> None:
    """The frame first, the entities last: `has_household` sees both only when both are complete."""
    frame = normalise_frame(data.frame)
    _atomic_write(data_dir / FRAME_FILE, lambda path: frame.to_parquet(path, index=False))
    document = {
        "timezone": data.timezone,
        "entities": [meta.model_dump() for meta in data.entities.values()],
    }
    text = json.dumps(document, indent=2, ensure_ascii=False)
    _atomic_write(data_dir / ENTITIES_FILE, lambda path: _write_text(path, text))


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def read_household(data_dir: Path) -> HouseholdData:
    if not has_household(data_dir):
        raise FileNotFoundError(f"no household in {data_dir} ({FRAME_FILE} and {ENTITIES_FILE})")
    document = json.loads((data_dir / ENTITIES_FILE).read_text("utf-8"))
    entities = {m["entity_id"]: EntityMeta.model_validate(m) for m in document["entities"]}
    frame = normalise_frame(pd.read_parquet(data_dir / FRAME_FILE))
    return HouseholdData(frame=frame, entities=entities, timezone=str(document["timezone"]))


def _read_or_explain(data_dir: Path) -> HouseholdData:
    """The household, or a DataSourceError that says what to do (nothing imported yet, or a
    damaged file)."""
    try:
        return read_household(data_dir)
    except FileNotFoundError as exc:
        raise DataSourceError(
            NO_DATA,
            f"No household data in {data_dir}: import a file with `aether data import FILE`.",
        ) from exc
    except (OSError, ValueError, KeyError) as exc:
        raise DataSourceError(
            INVALID_FILE, f"The household in {data_dir} cannot be read: {exc}"
        ) from exc


class ParquetHouseholdSource:
    """DataSource over a data directory; the files are read on first use and kept in memory."""

    def __init__(self, data_dir: Path | str) -> None:
        self._dir = Path(data_dir)
        self._data: HouseholdData | None = None
        self._lock = threading.Lock()

    def _household(self) -> HouseholdData:
        with self._lock:
            if self._data is None:
                self._data = _read_or_explain(self._dir)
            return self._data

    async def household(self) -> HouseholdData:
        """The whole household as stored."""
        if self._data is not None:
            return self._data
        return await asyncio.to_thread(self._household)

    async def timezone(self) -> str:
        return (await self.household()).timezone

    async def entities(self) -> list[EntityMeta]:
        return list((await self.household()).entities.values())

    async def load(
        self, start: datetime, end: datetime, entity_ids: list[str] | None = None
    ) -> HouseholdData:
        """States in [start, end), plus the last state before `start` of each entity."""
        return slice_household(await self.household(), start, end, entity_ids)
