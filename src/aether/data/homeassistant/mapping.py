"""Home Assistant's JSON to Aether's long frame, as pure functions (no I/O), so the mapping is
tested on its own and both the REST and the WebSocket paths produce the same schema.

- a state object (`/api/states`) gives the entity's metadata: `unit_of_measurement`,
  `device_class`, `state_class` and `friendly_name` from its attributes;
- a history answer (`/api/history/period`) is one list per entity; the first item is a full state
  and, with `minimal_response`, later items only carry `state` and `last_changed`. A row's time
  is its `last_updated` (when HA recorded it) or, in a minimal item, its `last_changed`; when
  the items carry attributes, a `total` sensor's `attributes.last_reset` fills `last_reset`;
- an hourly long-term statistic (`recorder/statistics_during_period`) becomes one row per hour:
  a meter (`state_class` total or total_increasing) its reading at the hour's end, any other
  sensor its mean over the hour, placed at the hour's start.

Numeric states become `value`; "unavailable", "unknown", "on" keep `value` NaN and the raw state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any, Final

import numpy as np
import pandas as pd

from aether.analysis.frames import long_frame
from aether.analysis.schema import EntityMeta, empty_frame
from aether.analysis.units import (
    energy_factor,
    is_energy_unit,
    is_power_unit,
    power_factor,
)

METER_CLASSES: Final = frozenset({"total", "total_increasing"})
AUTO_DOMAINS: Final = frozenset({"light", "switch", "fan", "climate", "water_heater"})
"""Domains analysed without HA_ENTITIES, besides sensors that have a `state_class`."""
STATISTIC_TYPES: Final = ("state", "sum", "mean", "min", "max")
HOUR: Final = pd.Timedelta(hours=1)

JsonObject = Mapping[str, Any]


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def entity_meta(state: JsonObject) -> EntityMeta:
    """One `/api/states` item to the entity's metadata."""
    entity_id = str(state["entity_id"])
    attributes = state.get("attributes") or {}
    return EntityMeta(
        entity_id=entity_id,
        friendly_name=_text(attributes.get("friendly_name")) or entity_id,
        unit=_text(attributes.get("unit_of_measurement")),
        device_class=_text(attributes.get("device_class")),
        state_class=_text(attributes.get("state_class")),
    )


def entity_metas(states: Iterable[JsonObject]) -> dict[str, EntityMeta]:
    metas: dict[str, EntityMeta] = {}
    for state in states:
        if isinstance(state, Mapping) and "entity_id" in state:
            meta = entity_meta(state)
            metas[meta.entity_id] = meta
    return metas


def is_selected(meta: EntityMeta, patterns: Sequence[str]) -> bool:
    """Whether an entity is analysed: it matches one of `patterns` (ids or shell-style
    patterns), or without patterns it is a sensor with a state_class or in AUTO_DOMAINS."""
    if patterns:
        return any(fnmatchcase(meta.entity_id, pattern.strip().lower()) for pattern in patterns)
    if meta.domain == "sensor":
        return meta.state_class is not None
    return meta.domain in AUTO_DOMAINS


def _timestamps(texts: Sequence[str]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(list(texts), utc=True, format="ISO8601"))


def history_frame(payload: object) -> pd.DataFrame:
    """A `/api/history/period` answer (a list of per-entity lists) to the long frame, rows in
    the order HA sent them. Raises ValueError when the answer has another shape."""
    if not isinstance(payload, list):
        raise ValueError("the history answer is not a list")
    ids: list[str] = []
    times: list[str] = []
    states: list[str] = []
    resets: list[str | None] = []
    for series in payload:
        if not isinstance(series, list) or not series:
            continue
        entity_id = series[0].get("entity_id") if isinstance(series[0], Mapping) else None
        if not isinstance(entity_id, str):
            raise ValueError("a history list does not start with a full state (no entity_id)")
        for item in series:
            when = item.get("last_updated") or item.get("last_changed")
            if not isinstance(when, str) or "state" not in item:
                raise ValueError(f"a history item of {entity_id} has no state or time")
            ids.append(str(item.get("entity_id", entity_id)))
            times.append(when)
            states.append("" if item["state"] is None else str(item["state"]))
            resets.append(_last_reset(item))
    if not ids:
        return empty_frame()
    if all(reset is None for reset in resets):
        return long_frame(ids, _timestamps(times), states)
    return long_frame(ids, _timestamps(times), states, _reset_times(resets))


def _last_reset(item: JsonObject) -> str | None:
    """`attributes.last_reset` of a history item; None without attributes (minimal items, or
    history asked with `no_attributes`) or when HA reports none."""
    attributes = item.get("attributes")
    if not isinstance(attributes, Mapping):
        return None
    return _text(attributes.get("last_reset"))


def _reset_times(texts: Sequence[str | None]) -> list[pd.Timestamp | None]:
    """ISO `last_reset` texts as UTC times; one HA cannot parse stays unknown (None) rather than
    failing the whole history."""
    stamps = pd.to_datetime(
        pd.Series(list(texts), dtype=object), utc=True, format="ISO8601", errors="coerce"
    )
    return [None if pd.isna(t) else t for t in stamps]


def _epoch_or_iso(values: Sequence[object]) -> pd.DatetimeIndex:
    """Statistics times: epoch milliseconds in current HA, ISO strings in older versions."""
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        millis = np.asarray(values, dtype=np.float64)
        return pd.DatetimeIndex(pd.to_datetime(np.rint(millis * 1e6).astype(np.int64), utc=True))
    return _timestamps([str(v) for v in values])


def unit_factor(statistics_unit: str | None, entity_unit: str | None) -> float | None:
    """Factor from a statistic's unit to the entity's, None when they cannot be converted (HA
    may keep statistics in another unit than the entity reports today)."""
    if (statistics_unit or "") == (entity_unit or "") or statistics_unit is None:
        return 1.0
    if is_energy_unit(statistics_unit) and is_energy_unit(entity_unit):
        return energy_factor(statistics_unit) / energy_factor(entity_unit)
    if is_power_unit(statistics_unit) and is_power_unit(entity_unit):
        return power_factor(statistics_unit) / power_factor(entity_unit)
    return None


def _is_meter(meta: EntityMeta | None, rows: Sequence[JsonObject]) -> bool:
    if meta is not None and meta.state_class is not None:
        return meta.state_class in METER_CLASSES
    return any(row.get("mean") is None and row.get("sum") is not None for row in rows)


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _hourly_value(row: JsonObject, meter: bool) -> tuple[object, float | None]:
    """(time, value) of one hourly statistic: a meter's reading at the hour's end, else the
    hour's mean at its start."""
    if meter:
        value = _number(row.get("state"))
        return row.get("end"), _number(row.get("sum")) if value is None else value
    return row.get("start"), _number(row.get("mean"))


def statistics_frame(
    result: Mapping[str, Sequence[JsonObject]],
    metas: Mapping[str, EntityMeta],
    factors: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """A `recorder/statistics_during_period` result (hourly) to the long frame: a meter's
    `state` (its reading, resets included; `sum` when HA gave no state) at the hour's end, any
    other sensor's `mean` at the hour's start. `factors` converts a statistic's unit to the
    entity's. Hours without the value are left out."""
    parts: list[pd.DataFrame] = []
    for statistic_id, rows in result.items():
        rows = [row for row in rows if isinstance(row, Mapping)]
        if not rows:
            continue
        meter = _is_meter(metas.get(statistic_id), rows)
        picked = (_hourly_value(row, meter) for row in rows)
        kept = [(t, v) for t, v in picked if v is not None and t is not None]
        if not kept:
            continue
        factor = (factors or {}).get(statistic_id, 1.0)
        values = [v * factor for _, v in kept]
        times = _epoch_or_iso([t for t, _ in kept])
        parts.append(long_frame(statistic_id, times, [repr(v) for v in values]))
    if not parts:
        return empty_frame()
    return pd.concat(parts, ignore_index=True)
