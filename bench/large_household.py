"""A large synthetic household for the analysis benchmark: 50 entities at 1-minute resolution.

The mix is what a well-instrumented Home Assistant install reports: grid import/export meters,
solar, two dozen appliance power sensors (a few in kW), sub-meters in Wh and kWh (one reset),
temperature and humidity sensors, and switches and lights. Planted faults give the diagnostic
analyst real work: gaps, an unavailable period, a stale sensor, duplicates and a power spike.
Everything is vectorised and seeded, so a run takes seconds and is the same every time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from aether.analysis.schema import ENTITY_ID, STATE, TIMESTAMP, VALUE, EntityMeta

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

NS_PER_S: Final = 1_000_000_000
POWER_SENSORS: Final = 24
SUB_METERS: Final = 8
TEMPERATURES: Final = 6
SWITCHES: Final = 8
UNMETERED_W: Final = 150.0


@dataclass(frozen=True)
class Series:
    meta: EntityMeta
    t: IntArray
    value: FloatArray
    text: list[str] | None = None
    """Raw states of an on/off entity (value is NaN); None for numeric sensors."""


@dataclass(frozen=True)
class Clock:
    t: IntArray
    hour: FloatArray
    """Local hour of day, fractional."""
    day: IntArray
    weekday: IntArray


def clock(start: str, days: int, step_s: int, timezone: str) -> Clock:
    first = pd.Timestamp(start, tz=timezone)
    t = first.value + np.arange(0, days * 86_400, step_s, dtype=np.int64) * NS_PER_S
    local = pd.DatetimeIndex(pd.to_datetime(t, unit="ns", utc=True)).tz_convert(timezone)
    hour = np.asarray(local.hour + local.minute / 60.0, dtype=np.float64)
    day = np.asarray((t - t[0]) // (86_400 * NS_PER_S), dtype=np.int64)
    return Clock(t, hour, day, np.asarray(local.day_of_week, dtype=np.int64))


def _meta(entity_id: str, unit: str | None, device: str | None, state: str | None) -> EntityMeta:
    name = entity_id.split(".", 1)[1].replace("_", " ").capitalize()
    return EntityMeta(
        entity_id=entity_id, friendly_name=name, unit=unit, device_class=device, state_class=state
    )


def _appliance(c: Clock, rng: np.random.Generator, kind: int) -> FloatArray:
    """Watts of one appliance: always-on, cycling (fridge), daily schedule, or random use."""
    n = len(c.t)
    if kind == 0:
        return 20.0 + 40.0 * rng.random() + rng.normal(0.0, 2.0, n).clip(-5, 5)
    if kind == 1:
        phase = (np.arange(n) + rng.integers(0, 40)) % 40
        return np.where(phase < 15, 90.0 + rng.normal(0.0, 3.0, n), 1.5)
    if kind == 2:
        start = 6.0 + 14.0 * rng.random()
        active = (c.hour >= start) & (c.hour < start + 1.5 + rng.random())
        return np.where(active, 800.0 + 1200.0 * rng.random(), 3.0)
    active = rng.random(n) < 0.02
    active = np.convolve(active, np.ones(30), mode="same") > 0
    return np.where(active, 150.0 + 600.0 * rng.random(), 0.5)


def _solar(c: Clock, rng: np.random.Generator) -> FloatArray:
    season = 0.6 + 0.4 * np.sin(2 * np.pi * (c.day - 80) / 365.0)
    shape = np.clip(np.sin(np.pi * (c.hour - 6.0) / 14.0), 0.0, None)
    clouds = rng.uniform(0.3, 1.0, int(c.day.max()) + 1)[c.day]
    return 5000.0 * season * shape * clouds


def _cumulative_kwh(t: IntArray, watts: FloatArray, initial: float) -> FloatArray:
    hours = np.diff(t).astype(np.float64) / 3.6e12
    steps = (watts[:-1] + watts[1:]) / 2.0 * hours / 1000.0
    return initial + np.concatenate(([0.0], np.cumsum(steps)))


def _switch(c: Clock, rng: np.random.Generator) -> tuple[FloatArray, list[str]]:
    start = 5.0 + 15.0 * rng.random()
    on = (c.hour >= start) & (c.hour < start + 0.5 + 4.0 * rng.random())
    return np.full(len(c.t), np.nan), np.where(on, "on", "off").tolist()


def household(c: Clock, seed: int = 11) -> Iterator[Series]:
    """The 50 entities, grid meters last (they integrate everything before them)."""
    rng = np.random.default_rng(seed)
    load = np.full(len(c.t), UNMETERED_W)
    for i in range(POWER_SENSORS):
        watts = _appliance(c, rng, i % 4)
        load += watts
        kw = i % 6 == 5
        entity = f"sensor.appliance_{i:02d}_power"
        unit = "kW" if kw else "W"
        yield Series(_meta(entity, unit, "power", "measurement"), c.t, watts / (1e3 if kw else 1))
    for i in range(SUB_METERS):
        watts = _appliance(c, rng, 2 + i % 2)
        load += watts
        kwh = _cumulative_kwh(c.t, watts, 100.0 * i)
        if i == 3:
            kwh[len(kwh) // 2 :] -= kwh[len(kwh) // 2 - 1]  # a meter reset half-way
        wh = i % 2 == 1
        meta = _meta(
            f"sensor.circuit_{i:02d}_energy", "Wh" if wh else "kWh", "energy", "total_increasing"
        )
        yield Series(meta, c.t, np.round(kwh * (1e3 if wh else 1), 3))
    solar = _solar(c, rng)
    yield Series(_meta("sensor.solar_power", "W", "power", "measurement"), c.t, np.round(solar, 1))
    for i in range(TEMPERATURES):
        celsius = 18.0 + 4.0 * np.sin(2 * np.pi * c.hour / 24.0 + i) + rng.normal(0, 0.2, len(c.t))
        meta = _meta(f"sensor.room_{i}_temperature", "°C", "temperature", "measurement")
        yield Series(meta, c.t, np.round(celsius, 2))
    humidity = 45.0 + 10.0 * np.sin(2 * np.pi * c.day / 365.0)
    yield Series(_meta("sensor.humidity", "%", "humidity", "measurement"), c.t, humidity)
    for i in range(SWITCHES):
        value, states = _switch(c, rng)
        domain = "light" if i % 2 else "switch"
        yield Series(_meta(f"{domain}.device_{i}", None, None, None), c.t, value, states)
    net = load - solar
    for entity, watts, initial in (
        ("sensor.grid_import_energy", np.clip(net, 0, None), 12_345.0),
        ("sensor.grid_export_energy", np.clip(-net, 0, None), 2_345.0),
    ):
        meta = _meta(entity, "kWh", "energy", "total_increasing")
        yield Series(meta, c.t, np.round(_cumulative_kwh(c.t, watts, initial), 3))


def _faults(s: Series, index: int) -> tuple[IntArray, FloatArray, list[str] | None, str | None]:
    """Per entity, a deterministic fault: a 6-h gap, a stale tail, a spike, or nothing."""
    t, v = s.t, s.value
    keep = np.ones(len(t), dtype=bool)
    unavailable_at: str | None = None
    if index % 10 == 1:
        keep[len(t) // 3 : len(t) // 3 + 360] = False
    if index % 17 == 2:
        keep[-3 * 1440 :] = False
    if index % 13 == 4 and s.text is None and s.meta.device_class == "power":
        v = v.copy()
        v[len(v) // 5] = 250_000.0 / (1e3 if s.meta.unit == "kW" else 1.0)
    if index % 11 == 3:
        unavailable_at = "unavailable"
    text = None if s.text is None else [x for x, k in zip(s.text, keep, strict=True) if k]
    return t[keep], v[keep], text, unavailable_at


def to_table(series: list[Series]) -> pa.Table:
    """The long frame as an Arrow table (what the sandbox's parquet reader hands to pandas)."""
    ids, times, values, states = [], [], [], []
    for index, s in enumerate(series):
        t, v, text, unavailable = _faults(s, index)
        state = (
            pa.array(text, pa.string()) if text is not None else pc.cast(pa.array(v), pa.string())
        )
        if unavailable:
            middle = len(t) // 2
            v = v.copy()
            v[middle : middle + 120] = np.nan
            state = pa.concat_arrays(
                [state[:middle], pa.array([unavailable] * 120, pa.string()), state[middle + 120 :]]
            )
        if index % 9 == 0:  # a hundred duplicated rows, delivered again at the end
            t = np.concatenate((t, t[1000:1100]))
            v = np.concatenate((v, v[1000:1100]))
            state = pa.concat_arrays([state, state[1000:1100]])
        ids.append(pa.array(np.full(len(t), index, dtype=np.int8)))
        times.append(t)
        values.append(v)
        states.append(state)
    names = pa.array([s.meta.entity_id for s in series], pa.string())
    codes = pa.chunked_array(ids).combine_chunks()
    return pa.table(
        {
            ENTITY_ID: pa.DictionaryArray.from_arrays(codes, names).dictionary_decode(),
            TIMESTAMP: pa.array(np.concatenate(times), pa.timestamp("ns", tz="UTC")),
            VALUE: pa.array(np.concatenate(values), pa.float64()),
            STATE: pa.chunked_array(states).combine_chunks(),
        }
    )
