"""Household history from a CSV or Parquet file in the documented long format
(docs/data-sources.md), validated row by row, and its import into the data directory.

One row per reported state:

    entity_id,timestamp,state,unit,device_class,state_class,friendly_name
    sensor.grid_energy,2024-11-18T00:00:00+01:00,4183.271,kWh,energy,total_increasing,Grid
    light.kitchen,2024-11-18T06:42:10Z,on,,,,Kitchen light

`entity_id`, `timestamp` (ISO 8601 with a zone: `Z` or an offset), `state` and `unit` (may be
empty) are required; `device_class`, `state_class`, `friendly_name` and `last_reset` (a `total`
sensor's attribute, a time like `timestamp`, empty when not reported) are optional. An entity's
unit and classes are the same on all its rows. Errors name the data row (1 = the first row after
the header) so that a user can fix the file; nothing is written unless the whole file is valid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from aether.analysis.frames import normalise_frame
from aether.analysis.schema import ENTITY_ID, LAST_RESET, STATE, TIMESTAMP, VALUE, EntityMeta
from aether.data.errors import INVALID_FILE, DataSourceError
from aether.data.parquet_store import has_household, read_household, write_household
from aether.data.source import HouseholdData

REQUIRED_COLUMNS: Final = (ENTITY_ID, TIMESTAMP, STATE, "unit")
OPTIONAL_COLUMNS: Final = ("device_class", "state_class", "friendly_name", LAST_RESET)
META_COLUMNS: Final = ("unit", "device_class", "state_class", "friendly_name")
STATE_CLASSES: Final = frozenset({"measurement", "total", "total_increasing"})
CSV_SUFFIXES: Final = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz")
PARQUET_SUFFIXES: Final = (".parquet", ".pq")
ENTITY_ID_PATTERN: Final = r"^[a-z0-9_]+\.[a-z0-9_]+$"
ZONE_PATTERN: Final = r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"
SHOWN_ERRORS: Final = 20


@dataclass(frozen=True)
class RowError:
    row: int | None
    """1-based data row (the header is not counted); None for the whole file."""
    message: str

    def __str__(self) -> str:
        return self.message if self.row is None else f"row {self.row}: {self.message}"


class InvalidFileError(DataSourceError):
    """The file does not follow the long format; `errors` lists the first problems found."""

    def __init__(self, path: Path, errors: list[RowError], total: int | None = None) -> None:
        self.path = path
        self.errors = errors
        count = total if total is not None else len(errors)
        shown = "\n".join(f"  {error}" for error in errors[:SHOWN_ERRORS])
        more = f"\n  … and {count - SHOWN_ERRORS} more" if count > SHOWN_ERRORS else ""
        noun = "problem" if count == 1 else "problems"
        super().__init__(INVALID_FILE, f"{path}: {count} {noun}:\n{shown}{more}")


@dataclass(frozen=True)
class ImportSummary:
    rows: int
    """Rows the file added (rows already in the data directory are not added twice)."""
    entities: int
    total_rows: int
    total_entities: int
    merged: bool


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in (*CSV_SUFFIXES, *PARQUET_SUFFIXES):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def read_table(path: Path) -> pd.DataFrame:
    """The file's rows as they are: CSV cells as strings (empty cells stay empty strings),
    Parquet columns with their own types."""
    suffix = _suffix(path)
    if suffix not in CSV_SUFFIXES and suffix not in PARQUET_SUFFIXES:
        raise InvalidFileError(
            path, [RowError(None, f"unknown file type {suffix or '(none)'}: use .csv or .parquet")]
        )
    try:
        if suffix in PARQUET_SUFFIXES:
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except FileNotFoundError as exc:
        raise InvalidFileError(path, [RowError(None, "no such file")]) from exc
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InvalidFileError(path, [RowError(None, f"cannot be read: {exc}")]) from exc
    table.columns = [str(column).strip().lower() for column in table.columns]
    return table


def _cell_text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


def _text_column(table: pd.DataFrame, column: str) -> pd.Series:
    """A column as stripped strings, nulls as empty strings, numbers as Python prints them
    (a Parquet file may hold numeric states)."""
    return table[column].map(_cell_text).astype(str).str.strip()


class _Collector:
    """Gathers row errors; stops storing after a few hundred but keeps counting."""

    def __init__(self) -> None:
        self.errors: list[RowError] = []
        self.total = 0

    def rows(self, mask: np.ndarray, message: str | list[str]) -> None:
        positions = np.flatnonzero(mask)
        self.total += len(positions)
        for position in positions[: max(0, 200 - len(self.errors))]:
            text = message if isinstance(message, str) else message[int(position)]
            self.errors.append(RowError(int(position) + 1, text))

    def whole(self, message: str) -> None:
        self.total += 1
        self.errors.append(RowError(None, message))


def _timestamps(
    table: pd.DataFrame, errors: _Collector, column: str = TIMESTAMP, *, required: bool = True
) -> pd.Series:
    """`column` as UTC times; every row needs one when `required`, otherwise an empty cell is
    NaT (a `last_reset` that was not reported). A zoneless time is refused: guessing the zone
    would shift every reading by hours."""
    raw = table[column]
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        stamps = pd.to_datetime(raw, utc=True)
        if required:
            errors.rows(stamps.isna().to_numpy(), f"{column} is empty")
        return stamps
    if pd.api.types.is_datetime64_dtype(raw.dtype):
        errors.whole(f"column {column} has no time zone: store it as UTC or with an offset")
        return pd.Series(pd.NaT, index=table.index, dtype="datetime64[ns, UTC]")
    text = _text_column(table, column)
    stamps = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    empty = (text == "").to_numpy()
    unparsed = stamps.isna().to_numpy() & ~empty
    zoneless = ~unparsed & ~empty & ~text.str.contains(ZONE_PATTERN, regex=True).to_numpy()
    if required:
        errors.rows(empty, f"{column} is empty")
    errors.rows(unparsed, [f"{column} {t!r} is not an ISO 8601 time" for t in text])
    errors.rows(zoneless, [f"{column} {t!r} has no time zone (add Z or +01:00)" for t in text])
    return stamps


def _consistent(
    ids: pd.Series, values: pd.Series, column: str, errors: _Collector
) -> dict[str, str | None]:
    """The one non-empty value of `column` per entity; a second, different one is an error."""
    frame = pd.DataFrame({"id": ids.to_numpy(), "v": values.to_numpy()})
    given = frame[frame["v"] != ""]
    first = given.drop_duplicates("id")
    chosen: dict[str, str | None] = {str(k): None for k in ids.unique()}
    chosen.update(dict(zip(first["id"].astype(str), first["v"].astype(str), strict=True)))
    expected = given["id"].map(chosen)
    differing = given[given["v"] != expected]
    mask = np.zeros(len(frame), dtype=bool)
    first_bad = differing.drop_duplicates("id")
    mask[first_bad.index.to_numpy()] = True
    errors.rows(
        mask,
        [
            f"{column} {v!r} of {i} differs from {chosen.get(i)!r} on an earlier row"
            for i, v in zip(frame["id"], frame["v"], strict=True)
        ],
    )
    return chosen


def parse_long_format(table: pd.DataFrame, path: Path, timezone: str) -> HouseholdData:
    """Validate `table` (read by `read_table`) and turn it into a household; raises
    InvalidFileError listing row-numbered problems."""
    errors = _Collector()
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        found = ", ".join(map(str, table.columns)) or "none"
        raise InvalidFileError(
            path,
            [RowError(None, f"missing column {', '.join(missing)} (found: {found})")],
        )
    if not len(table):
        raise InvalidFileError(path, [RowError(None, "no rows")])
    ids = _text_column(table, ENTITY_ID).str.lower()
    errors.rows(
        ~ids.str.match(ENTITY_ID_PATTERN).to_numpy(),
        [f"entity_id {i!r} is not a Home Assistant entity id (domain.name)" for i in ids],
    )
    stamps = _timestamps(table, errors)
    resets = (
        _timestamps(table, errors, LAST_RESET, required=False)
        if LAST_RESET in table.columns
        else None
    )
    states = _text_column(table, STATE)
    errors.rows((states == "").to_numpy(), "state is empty (use unknown or unavailable)")
    meta_values = {
        column: _text_column(table, column)
        if column in table.columns
        else pd.Series("", index=table.index)
        for column in META_COLUMNS
    }
    classes = meta_values["state_class"]
    errors.rows(
        ((classes != "") & ~classes.isin(sorted(STATE_CLASSES))).to_numpy(),
        [f"state_class {c!r} is not one of {', '.join(sorted(STATE_CLASSES))}" for c in classes],
    )
    chosen = {c: _consistent(ids, meta_values[c], c, errors) for c in META_COLUMNS}
    if errors.total:
        ordered = sorted(errors.errors, key=lambda e: (e.row is not None, e.row or 0))
        raise InvalidFileError(path, ordered, errors.total)
    columns = {
        ENTITY_ID: ids.to_numpy(),
        TIMESTAMP: stamps.to_numpy(),
        VALUE: pd.to_numeric(states, errors="coerce").to_numpy(dtype=np.float64),
        STATE: states.to_numpy(),
    }
    if resets is not None:
        columns[LAST_RESET] = resets.to_numpy()
    frame = normalise_frame(pd.DataFrame(columns))
    entities = {
        entity_id: EntityMeta(
            entity_id=entity_id,
            friendly_name=chosen["friendly_name"][entity_id] or entity_id,
            unit=chosen["unit"][entity_id],
            device_class=chosen["device_class"][entity_id],
            state_class=chosen["state_class"][entity_id],
        )
        for entity_id in sorted(chosen["unit"])
    }
    return HouseholdData(frame=frame, entities=entities, timezone=timezone)


def read_household_file(path: Path, timezone: str) -> HouseholdData:
    """A CSV or Parquet file in the long format, validated, as a household in `timezone`."""
    return parse_long_format(read_table(path), path, timezone)


def _keys(frame: pd.DataFrame) -> pd.Series:
    stamps = pd.DatetimeIndex(frame[TIMESTAMP]).as_unit("ns").asi8.astype(str)
    return frame[ENTITY_ID].astype(str) + "|" + stamps + "|" + frame[STATE].astype(str)


def merge_households(old: HouseholdData, new: HouseholdData, path: Path) -> HouseholdData:
    """`old` plus the rows of `new` it does not have (so re-importing a file adds nothing),
    sorted by entity and time; `new`'s metadata wins. An entity whose unit changed is refused:
    its old and new numbers could not be compared."""
    conflicts = [
        RowError(
            None,
            f"{k} is in {old.entities[k].unit} in the data directory and in "
            f"{meta.unit} in this file: import with --replace, or convert the file",
        )
        for k, meta in new.entities.items()
        if k in old.entities and (old.entities[k].unit or "") != (meta.unit or "")
    ]
    if conflicts:
        raise InvalidFileError(path, conflicts)
    fresh = new.frame[~_keys(new.frame).isin(set(_keys(old.frame)))]
    frame = pd.concat([old.frame, fresh], ignore_index=True)
    frame = frame.sort_values([ENTITY_ID, TIMESTAMP], kind="stable").reset_index(drop=True)
    return HouseholdData(
        frame=frame, entities={**old.entities, **new.entities}, timezone=new.timezone
    )


def import_household(
    path: Path, data_dir: Path, timezone: str, *, replace: bool = False
) -> ImportSummary:
    """Validate the file and write it into `data_dir`: merged with the household there, or in
    its place with `replace`. Atomic per file (see parquet_store)."""
    new = read_household_file(path, timezone)
    merged = not replace and has_household(data_dir)
    household, added = new, len(new.frame)
    if merged:
        old = read_household(data_dir)
        household = merge_households(old, new, path)
        added = len(household.frame) - len(old.frame)
    write_household(household, data_dir)
    return ImportSummary(
        rows=added,
        entities=len(new.entities),
        total_rows=len(household.frame),
        total_entities=len(household.entities),
        merged=merged,
    )


def write_long_format(data: HouseholdData, path: Path) -> None:
    """A household as a file in the long format (CSV or Parquet by suffix): what `import`
    reads back to the same household (`last_reset` included when the frame has it). Timestamps
    are written in UTC with `+00:00`."""
    frame = data.frame
    meta = [data.entities.get(str(i)) for i in frame[ENTITY_ID]]
    table = pd.DataFrame(
        {
            ENTITY_ID: frame[ENTITY_ID].astype(str).to_numpy(),
            TIMESTAMP: pd.DatetimeIndex(frame[TIMESTAMP]).tz_convert("UTC"),
            STATE: frame[STATE].astype(str).to_numpy(),
            "unit": _meta_column(meta, "unit"),
            "device_class": _meta_column(meta, "device_class"),
            "state_class": _meta_column(meta, "state_class"),
            "friendly_name": _meta_column(meta, "friendly_name"),
        }
    )
    if LAST_RESET in frame.columns:
        table[LAST_RESET] = pd.DatetimeIndex(pd.to_datetime(frame[LAST_RESET], utc=True))
    if _suffix(path) in PARQUET_SUFFIXES:
        table.to_parquet(path, index=False)
        return
    for column in (TIMESTAMP, LAST_RESET):
        if column in table.columns:
            table[column] = pd.DatetimeIndex(table[column]).map(_iso)
    table.to_csv(path, index=False)


def _iso(moment: pd.Timestamp) -> str:
    """ISO 8601 with its offset; an empty cell for NaT (a `last_reset` that was not reported)."""
    return "" if pd.isna(moment) else moment.isoformat()


def _meta_column(metas: Iterable[EntityMeta | None], field: str) -> list[str]:
    return [str(getattr(m, field) or "") if m is not None else "" for m in metas]
