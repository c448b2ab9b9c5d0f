"""The physics of the demo household: weather, solar, heat pump, EV, appliances and switches.

Everything is drawn from one seeded generator in a fixed order, so a seed and a clock give the
same household every time. Powers are in W at each sample time; switch events are (ns, state).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

import numpy as np
import numpy.typing as npt
import pandas as pd

from aether.analysis.periods import NS_PER_H, IntArray, local_time_ns

FloatArray = npt.NDArray[np.float64]
Events = list[tuple[int, str]]


@dataclass(frozen=True)
class Clock:
    """Sample times and their local calendar features."""

    t: IntArray
    timezone: str
    hour: FloatArray
    """Local clock hour (0-24, fractional)."""
    solar_hour: FloatArray
    """Local standard-time hour: the sun does not observe DST."""
    day: IntArray
    """Index of the local date, 0 = first day."""
    dates: list[date]
    doy: FloatArray

    @classmethod
    def build(cls, t: IntArray, timezone: str) -> Clock:
        utc = pd.DatetimeIndex(pd.to_datetime(t, unit="ns", utc=True))
        local = utc.tz_convert(timezone)
        offset_h = (local.tz_localize(None) - utc.tz_localize(None)).total_seconds() / 3600.0
        hour = np.asarray(local.hour + local.minute / 60.0, dtype=np.float64)
        dates = sorted(set(local.date))
        first = dates[0]
        return cls(
            t=t,
            timezone=timezone,
            hour=hour,
            solar_hour=hour - np.asarray(offset_h - offset_h.min(), dtype=np.float64),
            day=np.asarray([(d - first).days for d in local.date], dtype=np.int64),
            dates=dates,
            doy=np.asarray(local.day_of_year, dtype=np.float64),
        )

    def at(self, day: int, hours: float) -> int:
        """UTC ns of a local clock time (hours may exceed 24: the next morning)."""
        base = local_time_ns(self.dates[day], time(0), self.timezone)
        return base + round(hours * 3600) * 1_000_000_000


def day_length(doy: FloatArray) -> FloatArray:
    """Hours of daylight at about 52° N."""
    return 12.0 + 4.2 * np.sin(2 * np.pi * (doy - 80) / 365.25)


def temperature(clock: Clock, rng: np.random.Generator) -> FloatArray:
    seasonal = 9.5 - 9.0 * np.cos(2 * np.pi * (clock.doy - 20) / 365.25)
    shocks = rng.normal(0.0, 2.0, len(clock.dates))
    daily = np.zeros(len(shocks))
    for i in range(1, len(shocks)):
        daily[i] = 0.7 * daily[i - 1] + shocks[i]
    diurnal = 4.0 * np.cos(2 * np.pi * (clock.hour - 15.0) / 24.0)
    return seasonal + daily[clock.day] + diurnal + rng.normal(0.0, 0.3, len(clock.t))


def solar(clock: Clock, rng: np.random.Generator, peak_w: float = 6500.0) -> FloatArray:
    length = day_length(clock.doy)
    x = (clock.solar_hour - (12.3 - length / 2)) / length
    shape = np.where((x > 0) & (x < 1), np.sin(np.pi * np.clip(x, 0, 1)) ** 1.3, 0.0)
    season = 0.45 + 0.55 * (length - 7.8) / 8.4
    weather = 0.15 + 0.85 * rng.beta(2.0, 1.6, len(clock.dates))[clock.day]
    flicker = 1.0 - 0.35 * rng.random(len(clock.t)) * (1.0 - weather)
    return peak_w * 0.85 * season * weather * flicker * shape


def heat_pump(clock: Clock, rng: np.random.Generator, outdoor: FloatArray) -> FloatArray:
    """Heating follows the cold (35 W per K below 15 °C), more in the morning and evening, and
    cycles on and off; hot water runs every morning at 05:30."""
    factor = np.select(
        [
            (clock.hour >= 5) & (clock.hour < 9),
            (clock.hour >= 17) & (clock.hour < 22),
            clock.hour < 5,
        ],
        [1.35, 1.3, 0.75],
        1.0,
    )
    target = 35.0 * np.clip(15.0 - outdoor, 0.0, None) * factor
    running = rng.random(len(clock.t)) < np.clip(target / 2200.0, 0.0, 1.0)
    power = np.where(running, 2200.0 + rng.normal(0.0, 80.0, len(clock.t)), 8.0)
    hot_water = (clock.hour >= 5.5) & (clock.hour < 6.0)
    return power + np.where(hot_water, 1800.0, 0.0)


def ev_charger(clock: Clock, rng: np.random.Generator) -> FloatArray:
    """11 kW sessions on about a quarter of the evenings, 8-25 kWh each."""
    power = np.zeros(len(clock.t))
    charging = rng.random(len(clock.dates)) < 0.25
    starts = rng.uniform(18.0, 22.5, len(clock.dates))
    energy = rng.uniform(8.0, 25.0, len(clock.dates))
    for day in np.flatnonzero(charging):
        begin = clock.at(int(day), float(starts[day]))
        end = begin + int(energy[day] / 11.0 * NS_PER_H)
        power[(clock.t >= begin) & (clock.t < end)] = 11000.0
    return np.where(power > 0, power + rng.normal(0.0, 60.0, len(clock.t)), 0.0)


def fridge(clock: Clock, rng: np.random.Generator) -> FloatArray:
    compressor = rng.random(len(clock.t)) < 0.4
    return np.where(
        compressor, rng.normal(140.0, 6.0, len(clock.t)), rng.normal(82.0, 2.0, len(clock.t))
    )


def network_rack(clock: Clock, rng: np.random.Generator) -> FloatArray:
    return rng.normal(40.0, 1.5, len(clock.t))


def cooking(clock: Clock, rng: np.random.Generator) -> FloatArray:
    """Unmetered: dinner most evenings, lunch at weekends."""
    weekend = np.asarray([d.weekday() >= 5 for d in clock.dates])[clock.day]
    dinner = (
        (rng.random(len(clock.dates)) < 0.8)[clock.day] & (clock.hour >= 18) & (clock.hour < 18.75)
    )
    lunch = weekend & (clock.hour >= 12) & (clock.hour < 12.75)
    return np.where(dinner, 2000.0, 0.0) + np.where(lunch, 1500.0, 0.0)


def living_room_light(clock: Clock, rng: np.random.Generator) -> Events:
    """Switched on by hand around 19:00 (±20 min) on most weekdays, at random times at weekends."""
    events: Events = []
    for day, today in enumerate(clock.dates):
        weekday = today.weekday() < 5
        if rng.random() >= (0.85 if weekday else 0.5):
            continue
        on = (
            19.0 + np.clip(rng.normal(0.0, 9.0), -20.0, 20.0) / 60.0
            if weekday
            else rng.uniform(17.0, 21.0)
        )
        events += [(clock.at(day, on), "on"), (clock.at(day, rng.uniform(22.5, 23.75)), "off")]
    return events


def coffee_machine(clock: Clock, rng: np.random.Generator) -> Events:
    """Around 07:00 on weekdays, later at weekends; it switches itself off after 20-35 min."""
    events: Events = []
    for day, today in enumerate(clock.dates):
        weekday = today.weekday() < 5
        if rng.random() >= (0.9 if weekday else 0.7):
            continue
        jitter = np.clip(rng.normal(0.0, 6.0 if weekday else 20.0), -40.0, 40.0) / 60.0
        on = (7.0 if weekday else 8.5) + jitter
        events += [(clock.at(day, on), "on"), (clock.at(day, on + rng.uniform(20, 35) / 60), "off")]
    return events


def garden_light(clock: Clock, rng: np.random.Generator) -> Events:
    """On at dusk on about half the evenings; sometimes nobody turns it off until the morning."""
    events: Events = []
    dusk = 12.3 + day_length(np.asarray([float(d.timetuple().tm_yday) for d in clock.dates])) / 2
    for day in range(len(clock.dates)):
        if rng.random() >= 0.55:
            continue
        on = float(dusk[day]) + rng.normal(0.0, 10.0) / 60.0 + _dst_hours(clock, day)
        off = rng.uniform(31.0, 32.0) if rng.random() < 0.15 else rng.uniform(22.0, 23.5)
        events += [(clock.at(day, on), "on"), (clock.at(day, off), "off")]
    return events


def _dst_hours(clock: Clock, day: int) -> float:
    rows = np.flatnonzero(clock.day == day)
    if len(rows) == 0:
        return 0.0
    return float(np.median(clock.hour[rows] - clock.solar_hour[rows]))


def state_at(events: Events, t: IntArray) -> npt.NDArray[np.bool_]:
    """Whether a switch is on at each sample time."""
    if not events:
        return np.zeros(len(t), dtype=bool)
    times = np.asarray([e[0] for e in events], dtype=np.int64)
    on = np.asarray([e[1] == "on" for e in events], dtype=bool)
    index = np.searchsorted(times, t, side="right") - 1
    return np.where(index >= 0, on[np.clip(index, 0, None)], False)
