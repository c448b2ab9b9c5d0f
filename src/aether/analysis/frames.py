"""The long frame at the edges: normalising what sources deliver, building frames in tests, and
cutting a window out of a household (rows inside it plus the neighbours the analyses need).

Analyses need the last state before the window (to difference or integrate across its start) and
may use the first one after it (to finish the last interval), but never count anything outside.
Per-entity arrays for the analyses are built in `series.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from aether.analysis.periods import IntArray
from aether.analysis.schema import COLUMNS, ENTITY_ID, LAST_RESET, STATE, TIMESTAMP, VALUE


def timestamps_ns(frame: pd.DataFrame, column: str = TIMESTAMP) -> IntArray:
    """UTC nanoseconds of a timestamp column (naive timestamps are UTC; NaT is int64 min).
    A tz-aware nanosecond column, the schema's, is read without a copy."""
    values = frame[column]
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        stamps = values.array
        stamps = stamps if stamps.unit == "ns" else stamps.as_unit("ns")
        return np.asarray(stamps.asi8, dtype=np.int64)
    index = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    return np.asarray(index.as_unit("ns").asi8, dtype=np.int64)


def _edge_rows(ids: pd.Series, ts: IntArray, rows: IntArray, last: bool) -> IntArray:
    """Per entity, the row with the latest (or earliest) timestamp among `rows`; of several rows
    at that timestamp, the last (or first) delivered. Linear: no sort of the whole frame."""
    if len(rows) == 0:
        return rows
    codes, _ = pd.factorize(ids.iloc[rows], use_na_sentinel=False)
    sub_t = pd.Series(ts[rows])
    best = (sub_t.groupby(codes).max() if last else sub_t.groupby(codes).min()).to_numpy()
    hit = ts[rows] == best[codes]
    candidates = pd.Series(rows[hit]).groupby(codes[hit])
    picked = candidates.last() if last else candidates.first()
    return np.asarray(picked.to_numpy(), dtype=np.int64)


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
    if keep.all():
        return frame.reset_index(drop=True)
    return frame.iloc[np.flatnonzero(keep)].reset_index(drop=True)


def normalise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The schema's dtypes (string ids and states, UTC nanosecond timestamps, float values),
    whatever a file or a caller used; naive timestamps are taken as UTC. The optional
    `last_reset` column is kept (as UTC timestamps) when present."""
    timestamps = pd.DatetimeIndex(pd.to_datetime(frame[TIMESTAMP], utc=True))
    columns = {
        ENTITY_ID: frame[ENTITY_ID].astype("string").to_numpy(),
        TIMESTAMP: timestamps.as_unit("ns"),
        VALUE: pd.to_numeric(frame[VALUE], errors="coerce").to_numpy(dtype=np.float64),
        STATE: frame[STATE].astype("string").to_numpy(),
    }
    names = list(COLUMNS)
    if LAST_RESET in frame.columns:
        columns[LAST_RESET] = pd.DatetimeIndex(pd.to_datetime(frame[LAST_RESET], utc=True))
        names.append(LAST_RESET)
    normalised = pd.DataFrame(columns, columns=names)
    return normalised.astype({ENTITY_ID: "string", STATE: "string"})


def long_frame(
    entity_ids: str | Sequence[str],
    timestamps: Sequence[datetime | pd.Timestamp] | pd.DatetimeIndex,
    states: Sequence[str | float],
    last_reset: Sequence[datetime | pd.Timestamp | None] | None = None,
) -> pd.DataFrame:
    """A frame in the schema from raw states, as Home Assistant reports them: numbers become
    `value`, anything else ("on", "unavailable") leaves it NaN. `last_reset`, when given, is the
    attribute of a `total` sensor at each state."""
    count = len(timestamps)
    ids = [entity_ids] * count if isinstance(entity_ids, str) else list(entity_ids)
    text = [s if isinstance(s, str) else repr(float(s)) for s in states]
    values = pd.to_numeric(pd.Series(text, dtype="string"), errors="coerce")
    raw = pd.DataFrame({ENTITY_ID: ids, TIMESTAMP: list(timestamps), VALUE: values, STATE: text})
    if last_reset is not None:
        raw[LAST_RESET] = pd.to_datetime(pd.Series(list(last_reset), dtype=object), utc=True)
    return normalise_frame(raw)
