"""Values that cannot be physically right: negative consumption, power beyond what a household
connection carries, meters that jump or run backwards, temperatures off the scale."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from aether.analysis.meters import MAX_POWER_KW, MeterAnalysis
from aether.analysis.roles import Flow, Measure, flow_of, measure_of
from aether.analysis.schema import EntityMeta
from aether.analysis.series import EntitySeries
from aether.analysis.units import to_watts

NEGATIVE_TOLERANCE_W: Final = 50.0
"""Clamp meters read a few watts below zero at rest; beyond this a consumer cannot go."""
TEMPERATURE_RANGE_C: Final = (-60.0, 70.0)


@dataclass(frozen=True)
class Implausible:
    at_ns: int
    value: float
    reason: str


def _power(series: EntitySeries, meta: EntityMeta, rows: np.ndarray) -> list[Implausible]:
    watts = to_watts(series.value, meta.unit)
    found = []
    if flow_of(meta) is not Flow.GRID_IMPORT:
        for i in rows[watts[rows] < -NEGATIVE_TOLERANCE_W]:
            found.append(Implausible(int(series.t[i]), float(watts[i]), "negative power (W)"))
    for i in rows[np.abs(watts[rows]) > MAX_POWER_KW * 1000]:
        found.append(
            Implausible(
                int(series.t[i]), float(watts[i]), f"power beyond {MAX_POWER_KW:.0f} kW (W)"
            )
        )
    return found


def _meter(meter: MeterAnalysis, start_ns: int, end_ns: int) -> list[Implausible]:
    found = [Implausible(t, float("nan"), "negative meter reading") for t in meter.negative_at_ns]
    found += [
        Implausible(
            e.at_ns,
            e.after_kwh - e.before_kwh,
            f"meter jump implying more than {MAX_POWER_KW:.0f} kW (kWh)",
        )
        for e in meter.spikes
    ]
    found += [
        Implausible(e.at_ns, e.after_kwh - e.before_kwh, "meter ran backwards (kWh)")
        for e in meter.dips
    ]
    return [f for f in found if start_ns <= f.at_ns < end_ns]


def _temperature(series: EntitySeries, meta: EntityMeta, rows: np.ndarray) -> list[Implausible]:
    if meta.device_class != "temperature" or (meta.unit or "°C") != "°C":
        return []
    low, high = TEMPERATURE_RANGE_C
    values = series.value[rows]
    bad = rows[(values < low) | (values > high)]
    return [
        Implausible(int(series.t[i]), float(series.value[i]), "temperature out of range (°C)")
        for i in bad
    ]


def implausible_values(
    series: EntitySeries, meta: EntityMeta, meter: MeterAnalysis | None, start_ns: int, end_ns: int
) -> list[Implausible]:
    rows = np.flatnonzero(series.valid & (series.t >= start_ns) & (series.t < end_ns))
    measure = measure_of(meta)
    if measure is Measure.POWER:
        found = _power(series, meta, rows)
    elif measure is Measure.ENERGY_METER and meter is not None:
        found = _meter(meter, start_ns, end_ns)
    else:
        found = _temperature(series, meta, rows)
    return sorted(found, key=lambda f: f.at_ns)
