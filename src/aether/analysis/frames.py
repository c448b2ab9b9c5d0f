"""From the long frame to per-entity arrays, and the rows that matter for one window.

Analyses need the last state before the window (to difference or integrate across its start) and
may use the first one after it (to finish the last interval), but never count anything outside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pandas as pd

from aether.analysis.periods import IntArray
from aether.analysis.schema import (
    COLUMNS,
    ENTITY_ID,
    STATE,
    TIMESTAMP,
    UNAVAILABLE_STATES,
    VALUE,
)
from aether.analysis.units import FloatArray

BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.object_]


@dataclass(frozen=True)
class EntitySeries:
    """One entity's states, sorted by time, one per timestamp (the last reported wins)."""

    entity_id: str
    t: IntArray
    value: FloatArray
    state: StrArray
    """Lower-cased, stripped raw states."""

    @property
    def known(self) -> BoolArray:
        return ~np.isin(self.state, list(UNAVAILABLE_STATES))

    @property
    def valid(self) -> BoolArray:
        """A known state with a numeric value."""
        return self.known & ~np.isnan(self.value)

    def __len__(self) -> int:
        return len(self.t)


def timestamps_ns(frame: pd.DataFrame) -> IntArray:
    index = pd.DatetimeIndex(frame[TIMESTAMP])
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return np.asarray(index.as_unit("ns").asi8, dtype=np.int64)


def _edge_rows(ids: pd.Series, ts: IntArray, rows: IntArray, last: bool) -> IntArray:
    """Per entity, the row with the latest (or earliest) timestamp among `rows`."""
    if len(rows) == 0:
        return rows
    sub = pd.DataFrame({"id": ids.to_numpy()[rows], "t": ts[rows], "pos": rows})
    sub = sub.sort_values("t", kind="stable")
    picked = sub.groupby("id", sort=False).tail(1) if last else sub.groupby("id").head(1)
    return np.asarray(picked["pos"].to_numpy(), dtype=np.int64)


def clip_frame(
    frame: pd.DataFrame,
    start_ns: int,
    end_ns: int,
    entity_ids: list[str] | None = None,
    *,
    previous: bool = True,
    following: bool = False,
) -> pd.DataFrame:
    """Rows in [start, end), plus per entity the last row before start and/or the first after;
    row order is kept so that out-of-order data stays visible."""
    ts = timestamps_ns(frame)
    ids = frame[ENTITY_ID]
    wanted = np.ones(len(frame), dtype=bool)
    if entity_ids is not None:
        wanted = np.asarray(ids.isin(entity_ids).to_numpy(), dtype=bool)
    keep = wanted & (ts >= start_ns) & (ts < end_ns)
    if previous:
        keep[_edge_rows(ids, ts, np.flatnonzero(wanted & (ts < start_ns)), last=True)] = True
    if following:
        keep[_edge_rows(ids, ts, np.flatnonzero(wanted & (ts >= end_ns)), last=False)] = True
    return frame.iloc[np.flatnonzero(keep)].reset_index(drop=True)


def _values(frame: pd.DataFrame) -> FloatArray:
    """`value`, falling back to the state parsed as a number when a source left it empty."""
    values = pd.to_numeric(frame[VALUE], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    parsed = pd.to_numeric(frame[STATE], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    return np.where(np.isnan(values), parsed, values)


def split_entities(frame: pd.DataFrame) -> dict[str, EntitySeries]:
    work = pd.DataFrame(
        {
            "e": frame[ENTITY_ID].astype(str).to_numpy(),
            "t": timestamps_ns(frame),
            "v": _values(frame),
            "s": frame[STATE].fillna("").astype(str).str.strip().str.lower().to_numpy(),
        }
    )
    work = work.sort_values(["e", "t"], kind="stable").drop_duplicates(["e", "t"], keep="last")
    series: dict[str, EntitySeries] = {}
    for entity_id, group in work.groupby("e", sort=True):
        series[str(entity_id)] = EntitySeries(
            entity_id=str(entity_id),
            t=np.asarray(group["t"].to_numpy(), dtype=np.int64),
            value=np.asarray(group["v"].to_numpy(), dtype=np.float64),
            state=np.asarray(group["s"].to_numpy(), dtype=object),
        )
    return series


def horizon_ns(frame: pd.DataFrame, start_ns: int, end_ns: int) -> int:
    """Where the household's data ends inside the window (its end when data reaches it).

    A window may end in the future ("today"); coverage and staleness are measured up to here."""
    ts = timestamps_ns(frame)
    if np.any(ts >= end_ns):
        return end_ns
    inside = ts[(ts >= start_ns) & (ts < end_ns)]
    return int(inside.max()) if len(inside) else start_ns


def normalise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The schema's dtypes (string ids and states, UTC nanosecond timestamps, float values),
    whatever a file or a caller used; naive timestamps are taken as UTC."""
    timestamps = pd.DatetimeIndex(frame[TIMESTAMP])
    if timestamps.tz is None:
        timestamps = timestamps.tz_localize("UTC")
    normalised = pd.DataFrame(
        {
            ENTITY_ID: frame[ENTITY_ID].astype("string").to_numpy(),
            TIMESTAMP: timestamps.tz_convert("UTC").as_unit("ns"),
            VALUE: pd.to_numeric(frame[VALUE], errors="coerce").to_numpy(dtype=np.float64),
            STATE: frame[STATE].astype("string").to_numpy(),
        },
        columns=list(COLUMNS),
    )
    return normalised.astype({ENTITY_ID: "string", STATE: "string"})


def long_frame(
    entity_ids: str | Sequence[str],
    timestamps: Sequence[datetime | pd.Timestamp] | pd.DatetimeIndex,
    states: Sequence[str | float],
) -> pd.DataFrame:
    """A frame in the schema from raw states, as Home Assistant reports them: numbers become
    `value`, anything else ("on", "unavailable") leaves it NaN."""
    count = len(timestamps)
    ids = [entity_ids] * count if isinstance(entity_ids, str) else list(entity_ids)
    text = [s if isinstance(s, str) else repr(float(s)) for s in states]
    values = pd.to_numeric(pd.Series(text, dtype="string"), errors="coerce")
    raw = pd.DataFrame({ENTITY_ID: ids, TIMESTAMP: list(timestamps), VALUE: values, STATE: text})
    return normalise_frame(raw)
