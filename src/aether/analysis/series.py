"""From the long frame to per-entity arrays, in linear time and without touching numeric states.

A year of minute data is tens of millions of rows; converting each state string to a Python
object would cost more than every analysis together. So the raw `state` is read only where
`value` is empty (switches, lights, `unavailable`): the few distinct strings there are parsed and
lower-cased once. A row with a numeric value is a known state (its state is that number).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from aether.analysis.frames import timestamps_ns
from aether.analysis.periods import IntArray
from aether.analysis.schema import ENTITY_ID, LAST_RESET, STATE, UNAVAILABLE_STATES, VALUE
from aether.analysis.units import FloatArray

BoolArray = npt.NDArray[np.bool_]
LabelArray = npt.NDArray[np.int32]
NUMERIC = -1
"""Label of a row whose state is a number."""


@dataclass(frozen=True)
class Columns:
    """The frame as arrays, in the order the source delivered the rows."""

    names: list[str]
    """Entity ids, sorted; `code` indexes them."""
    code: IntArray
    t: IntArray
    value: FloatArray
    known: BoolArray
    label: LabelArray
    labels: tuple[str, ...]
    """Lower-cased, stripped non-numeric states; `label` indexes them (NUMERIC for numbers)."""
    last_reset: IntArray | None


@dataclass(frozen=True)
class EntitySeries:
    """One entity's states, sorted by time, one per timestamp (the last reported wins)."""

    entity_id: str
    t: IntArray
    value: FloatArray
    known: BoolArray
    """Not `unavailable`, `unknown` or empty."""
    label: LabelArray
    labels: tuple[str, ...]
    last_reset: IntArray | None = None
    """`last_reset` per state in ns (int64 min when absent), when the frame has the column."""

    @property
    def valid(self) -> BoolArray:
        """A known state with a numeric value."""
        return self.known & ~np.isnan(self.value)

    def is_state(self, word: str) -> BoolArray:
        if word not in self.labels:
            return np.zeros(len(self.t), dtype=bool)
        return np.asarray(self.label == self.labels.index(word), dtype=bool)

    def __len__(self) -> int:
        return len(self.t)


def _factorize(ids: pd.Series) -> tuple[IntArray, list[str]]:
    """Codes and distinct ids in order of appearance; Arrow-backed and categorical columns are
    encoded natively (a Python object per row would cost seconds on a year of data)."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        return np.asarray(ids.cat.codes, dtype=np.int64), [str(c) for c in ids.cat.categories]
    chunks = getattr(ids.array, "_pa_array", None)
    if isinstance(chunks, pa.ChunkedArray) and _is_text(chunks.type):
        encoded = pc.dictionary_encode(chunks, null_encoding="encode").combine_chunks()
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        return codes, [str(x) for x in encoded.dictionary.to_pylist()]
    codes, uniques = pd.factorize(ids, use_na_sentinel=False)
    return np.asarray(codes, dtype=np.int64), [str(u) for u in uniques]


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _entity_codes(frame: pd.DataFrame) -> tuple[IntArray, list[str]]:
    """Codes into the sorted entity ids."""
    codes, names = _factorize(frame[ENTITY_ID])
    rank = np.argsort(np.array(names, dtype=object)).astype(np.int64)
    remap = np.empty(len(names), dtype=np.int64)
    remap[rank] = np.arange(len(names), dtype=np.int64)
    return remap[codes], sorted(names)


def _states(
    frame: pd.DataFrame, value: FloatArray
) -> tuple[BoolArray, LabelArray, tuple[str, ...]]:
    """Known mask and labels; fills `value` in place where the state is a number it lacked.
    A missing state (NA) reads as the empty state, which is not known."""
    rows = np.flatnonzero(np.isnan(value))
    known = np.ones(len(value), dtype=bool)
    label = np.full(len(value), NUMERIC, dtype=np.int32)
    if len(rows) == 0:
        return known, label, ()
    codes, uniques = pd.factorize(frame[STATE].iloc[rows], use_na_sentinel=True)
    words = ["" if pd.isna(u) else str(u).strip().lower() for u in uniques] + [""]
    codes = np.where(codes < 0, len(words) - 1, codes)
    parsed = pd.to_numeric(pd.Series(words, dtype=object), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    labels = tuple(sorted({w for w, p in zip(words, parsed, strict=True) if np.isnan(p)}))
    index = {w: i for i, w in enumerate(labels)}
    value[rows] = parsed[codes]
    label[rows] = np.array([index.get(w, NUMERIC) for w in words], dtype=np.int32)[codes]
    known[rows] = np.array([w not in UNAVAILABLE_STATES for w in words], dtype=bool)[codes]
    return known, label, labels


def columns_of(frame: pd.DataFrame) -> Columns:
    code, names = _entity_codes(frame)
    raw = frame[VALUE]
    if raw.dtype == np.float64:
        value = raw.to_numpy(dtype=np.float64, copy=True)
    else:
        value = pd.to_numeric(raw, errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan, copy=True
        )
    known, label, labels = _states(frame, value)
    last_reset = timestamps_ns(frame, LAST_RESET) if LAST_RESET in frame.columns else None
    return Columns(names, code, timestamps_ns(frame), value, known, label, labels, last_reset)


@dataclass(frozen=True)
class Groups:
    """Row positions grouped by entity, source order kept within each group."""

    order: IntArray | None
    """None when the frame is grouped already: then the groups are ranges of rows."""
    begin: IntArray
    """Per entity code, where its rows begin in `order` (and end: `end`)."""
    end: IntArray

    def rows(self, code: int) -> IntArray:
        a, b = int(self.begin[code]), int(self.end[code])
        return np.arange(a, b, dtype=np.int64) if self.order is None else self.order[a:b]


def grouped(cols: Columns) -> Groups:
    """Frames usually come grouped by entity already (one block per entity, in any order):
    then the groups are slices of the frame and nothing is sorted."""
    size = len(cols.names)
    code = cols.code
    if len(code) == 0:
        return Groups(code, np.zeros(size, np.int64), np.zeros(size, np.int64))
    change = np.flatnonzero(code[1:] != code[:-1]) + 1
    if len(change) == size - 1:
        begin = np.concatenate(([0], change)).astype(np.int64)
        end = np.concatenate((change, [len(code)])).astype(np.int64)
        starts, ends = np.zeros(size, np.int64), np.zeros(size, np.int64)
        starts[code[begin]], ends[code[begin]] = begin, end
        return Groups(None, starts, ends)
    narrow = code.astype(np.int16 if size < 2**15 else np.int64)
    order = np.argsort(narrow, kind="stable").astype(np.int64)
    bounds = np.concatenate(([0], np.cumsum(np.bincount(code, minlength=size)))).astype(np.int64)
    return Groups(order, bounds[:-1], bounds[1:])


def sorted_rows(cols: Columns, rows: IntArray) -> tuple[IntArray, BoolArray]:
    """One entity's rows by time (stable), and which of them a later row at the same time
    replaces (the last reported state wins)."""
    ts = cols.t[rows]
    if len(ts) > 1 and bool(np.any(ts[1:] < ts[:-1])):
        rows = rows[np.argsort(ts, kind="stable")]
        ts = cols.t[rows]
    replaced = np.concatenate((ts[1:] == ts[:-1], [False])) if len(ts) else np.zeros(0, bool)
    return rows, replaced


def entity_series(cols: Columns, code: int, rows: IntArray) -> EntitySeries:
    return EntitySeries(
        entity_id=cols.names[code],
        t=cols.t[rows],
        value=cols.value[rows],
        known=cols.known[rows],
        label=cols.label[rows],
        labels=cols.labels,
        last_reset=None if cols.last_reset is None else cols.last_reset[rows],
    )


def window_rows(ts: IntArray, start_ns: int, end_ns: int) -> slice:
    """Rows in [start, end) plus the last before and the first after (ts sorted)."""
    lo = int(np.searchsorted(ts, start_ns, side="left"))
    hi = int(np.searchsorted(ts, end_ns, side="left"))
    return slice(max(lo - 1, 0), min(hi + 1, len(ts)))


def split_entities(frame: pd.DataFrame) -> dict[str, EntitySeries]:
    """Every entity of the frame, sorted and de-duplicated, nothing clipped."""
    cols = columns_of(frame)
    groups = grouped(cols)
    found = {}
    for code, name in enumerate(cols.names):
        rows, replaced = sorted_rows(cols, groups.rows(code))
        if len(rows):
            found[name] = entity_series(cols, code, rows[~replaced])
    return found
