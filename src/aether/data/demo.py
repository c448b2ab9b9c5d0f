"""A deterministic demo household, so that Aether answers with real numbers on first run.

Loads and solar are simulated at 15-minute resolution; the grid meters integrate exactly what the
power sensors show (net import = max(load - solar, 0)), so every analysis agrees with every other.
Planted for the diagnostic analyst: one reset of the grid import meter half-way through, the heat
pump sensor unavailable for 6 h three days before `now`, the outdoor temperature silent for the
last 5 days.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
from pydantic import BaseModel

from aether.analysis.periods import NS_PER_H, QUARTER_NS, to_ns
from aether.analysis.schema import ENTITY_ID, STATE, TIMESTAMP, VALUE, EntityMeta
from aether.data import demo_profiles as profiles
from aether.data.demo_profiles import Clock, Events, FloatArray
from aether.data.parquet_store import has_household, write_household
from aether.data.source import HouseholdData

GRID_IMPORT: Final = "sensor.grid_import_energy"
GRID_EXPORT: Final = "sensor.grid_export_energy"
HEAT_PUMP: Final = "sensor.heat_pump_power"
OUTDOOR: Final = "sensor.outdoor_temperature"
UNAVAILABLE_AGO: Final = timedelta(days=3, hours=5)
UNAVAILABLE_FOR: Final = timedelta(hours=6)
STALE_AGO: Final = timedelta(days=5)
MIN_DAYS: Final = 7
DEMO_MARKER: Final = "demo.json"
DEMO_REFRESH_AFTER: Final = timedelta(days=1)


def _meta(
    entity_id: str,
    name: str,
    unit: str | None = None,
    device: str | None = None,
    state_class: str | None = None,
) -> EntityMeta:
    return EntityMeta(
        entity_id=entity_id,
        friendly_name=name,
        unit=unit,
        device_class=device,
        state_class=state_class,
    )


DEMO_ENTITIES: Final = (
    _meta(GRID_IMPORT, "Grid import", "kWh", "energy", "total_increasing"),
    _meta(GRID_EXPORT, "Grid export", "kWh", "energy", "total_increasing"),
    _meta("sensor.solar_power", "Solar power", "W", "power", "measurement"),
    _meta(HEAT_PUMP, "Heat pump", "W", "power", "measurement"),
    _meta("sensor.ev_charger_power", "EV charger", "W", "power", "measurement"),
    _meta("sensor.fridge_power", "Fridge", "W", "power", "measurement"),
    _meta("sensor.network_rack_power", "Network rack", "W", "power", "measurement"),
    _meta(OUTDOOR, "Outdoor temperature", "°C", "temperature", "measurement"),
    _meta("light.living_room", "Living room light"),
    _meta("switch.coffee_machine", "Coffee machine"),
    _meta("light.garden", "Garden light"),
)


def _numeric(entity_id: str, t: np.ndarray, values: FloatArray, decimals: int) -> pd.DataFrame:
    rounded = np.round(values, decimals)
    return pd.DataFrame(
        {
            ENTITY_ID: entity_id,
            TIMESTAMP: t,
            VALUE: rounded,
            STATE: np.char.mod(f"%.{decimals}f", rounded),
        }
    )


def _switch(entity_id: str, start_ns: int, end_ns: int, events: Events) -> pd.DataFrame:
    kept = [(start_ns, "off")] + [e for e in events if start_ns < e[0] <= end_ns]
    return pd.DataFrame(
        {
            ENTITY_ID: entity_id,
            TIMESTAMP: [e[0] for e in kept],
            VALUE: np.nan,
            STATE: [e[1] for e in kept],
        }
    )


def meter_readings(increments_kwh: FloatArray, initial: float, reset_at: int | None) -> FloatArray:
    """Cumulative readings; at `reset_at` the meter restarts from zero, so that reading is just
    the energy of the interval that ends there."""
    readings = initial + np.concatenate(([0.0], np.cumsum(increments_kwh)))
    if reset_at is not None:
        readings[reset_at:] = np.cumsum(increments_kwh[reset_at - 1 :])
    return readings


def _trapezoid_kwh(watts: FloatArray) -> FloatArray:
    return (watts[:-1] + watts[1:]) / 2.0 * (QUARTER_NS / NS_PER_H) / 1000.0


def _reset_index(clock: Clock) -> int:
    """03:00 local on the middle day."""
    middle = clock.at(len(clock.dates) // 2, 3.0)
    return int(np.searchsorted(clock.t, middle))


def _simulate(
    clock: Clock, rng: np.random.Generator
) -> tuple[dict[str, FloatArray], dict[str, Events], FloatArray]:
    """Sensor readings, switch events, and the site's net power (load - solar) from which the
    grid meters are integrated; unmetered loads (standby, lights, coffee, cooking) are in it."""
    outdoor = profiles.temperature(clock, rng)
    switches = {
        "light.living_room": profiles.living_room_light(clock, rng),
        "switch.coffee_machine": profiles.coffee_machine(clock, rng),
        "light.garden": profiles.garden_light(clock, rng),
    }
    powers = {
        "sensor.solar_power": profiles.solar(clock, rng),
        HEAT_PUMP: profiles.heat_pump(clock, rng, outdoor),
        "sensor.ev_charger_power": profiles.ev_charger(clock, rng),
        "sensor.fridge_power": profiles.fridge(clock, rng),
        "sensor.network_rack_power": profiles.network_rack(clock, rng),
    }
    lights = 60.0 * profiles.state_at(switches["light.living_room"], clock.t)
    lights += 40.0 * profiles.state_at(switches["light.garden"], clock.t)
    coffee = 1300.0 * profiles.state_at(switches["switch.coffee_machine"], clock.t)
    unmetered = 70.0 + lights + coffee + profiles.cooking(clock, rng)
    powers = {k: np.round(v, 1) for k, v in powers.items()}
    load = unmetered + sum(v for k, v in powers.items() if k != "sensor.solar_power")
    powers[OUTDOOR] = outdoor
    return powers, switches, load - powers["sensor.solar_power"]


def _with_faults(frame: pd.DataFrame, end_ns: int) -> pd.DataFrame:
    """The heat pump goes unavailable for 6 h; the outdoor sensor stops reporting."""
    ts = frame[TIMESTAMP].to_numpy(dtype=np.int64)
    down = end_ns - int(UNAVAILABLE_AGO.total_seconds() * 1e9)
    down -= down % QUARTER_NS
    up = down + int(UNAVAILABLE_FOR.total_seconds() * 1e9)
    heat = (frame[ENTITY_ID] == HEAT_PUMP).to_numpy()
    outage = heat & (ts > down) & (ts < up)
    stale = (frame[ENTITY_ID] == OUTDOOR).to_numpy() & (
        ts > end_ns - int(STALE_AGO.total_seconds() * 1e9)
    )
    frame = frame[~(outage | stale)].copy()
    marker = heat[~(outage | stale)] & (frame[TIMESTAMP].to_numpy(dtype=np.int64) == down)
    frame.loc[marker, STATE] = "unavailable"
    frame.loc[marker, VALUE] = np.nan
    return frame


def generate_demo_household(
    now: datetime, days: int = 90, timezone: str = "Europe/Berlin", seed: int = 7
) -> HouseholdData:
    """`days` of history at 15-minute resolution ending at `now` (floored to the quarter hour)."""
    if days < MIN_DAYS:
        raise ValueError(f"the demo household needs at least {MIN_DAYS} days, not {days}")
    end_ns = to_ns(now) // QUARTER_NS * QUARTER_NS
    start_ns = end_ns - days * 24 * NS_PER_H
    clock = Clock.build(np.arange(start_ns, end_ns + 1, QUARTER_NS, dtype=np.int64), timezone)
    rng = np.random.default_rng(seed)
    powers, switches, net = _simulate(clock, rng)
    imported = _trapezoid_kwh(np.clip(net, 0.0, None))
    exported = _trapezoid_kwh(np.clip(-net, 0.0, None))
    parts = [
        _numeric(GRID_IMPORT, clock.t, meter_readings(imported, 4183.271, _reset_index(clock)), 3),
        _numeric(GRID_EXPORT, clock.t, meter_readings(exported, 1021.5, None), 3),
        *(_numeric(k, clock.t, v, 1) for k, v in powers.items()),
        *(_switch(k, start_ns, end_ns, v) for k, v in switches.items()),
    ]
    frame = pd.concat(parts, ignore_index=True)
    frame = _with_faults(frame, end_ns).sort_values([ENTITY_ID, TIMESTAMP], kind="stable")
    frame[TIMESTAMP] = pd.to_datetime(
        frame[TIMESTAMP].to_numpy(dtype=np.int64), unit="ns", utc=True
    )
    frame[ENTITY_ID] = frame[ENTITY_ID].astype("string")
    frame[STATE] = frame[STATE].astype("string")
    entities = {m.entity_id: m for m in DEMO_ENTITIES}
    return HouseholdData(frame=frame.reset_index(drop=True), entities=entities, timezone=timezone)


def ensure_demo_household(
    data_dir: Path, now: datetime, days: int = 90, timezone: str = "Europe/Berlin", seed: int = 7
) -> bool:
    """Write the demo household into `data_dir` unless a household is there already, or rewrite
    a demo household that ended more than a day ago, so that "last week" always has data.
    A household without the demo marker (imported data) is never touched. Returns whether it
    was written."""
    if has_household(data_dir) and not _stale_demo(data_dir / DEMO_MARKER, now):
        return False
    write_household(generate_demo_household(now, days, timezone, seed), data_dir)
    marker = DemoMarker(generated_until=now, days=days, timezone=timezone, seed=seed)
    (data_dir / DEMO_MARKER).write_text(marker.model_dump_json(indent=2), encoding="utf-8")
    return True


class DemoMarker(BaseModel):
    """Marks a data directory's household as the generated demo, and until when it runs."""

    generated_until: datetime
    days: int
    timezone: str
    seed: int


def _stale_demo(marker: Path, now: datetime) -> bool:
    if not marker.is_file():
        return False
    try:
        generated = DemoMarker.model_validate_json(marker.read_text(encoding="utf-8"))
    except ValueError:
        return True
    return now - generated.generated_until > DEMO_REFRESH_AFTER
