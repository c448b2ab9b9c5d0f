"""The energy analyst's inputs: every meter and power sensor turned into a cumulative curve, and
the household balance (grid import, production, export) derived from them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aether.analysis.context import AnalysisContext
from aether.analysis.curves import Buckets, Curve
from aether.analysis.meters import MeterAnalysis, analyse_meter
from aether.analysis.periods import NS_PER_H
from aether.analysis.power import PowerAnalysis, integrate_power
from aether.analysis.roles import Flow, Measure, flow_of, measure_of
from aether.analysis.schema import EntityMeta

_DEVICE_SUFFIX = re.compile(r"_(power|energy|consumption|kwh|w)$")


@dataclass(frozen=True)
class EnergyInput:
    meta: EntityMeta
    measure: Measure
    flow: Flow
    curve: Curve
    meter: MeterAnalysis | None
    power: PowerAnalysis | None
    window: Buckets
    """Totals over the whole window."""
    coverage: float
    """Share of the window (up to the data horizon) spanned by intervals within tolerance."""
    uncovered_h: float
    """Hours of that span not covered: skipped gaps, unavailable time, no data yet or any more."""

    @property
    def entity_id(self) -> str:
        return self.meta.entity_id

    @property
    def kwh(self) -> float:
        return float(self.window.energy_kwh[0])


def _build(ctx: AnalysisContext, meta: EntityMeta, measure: Measure) -> EnergyInput:
    series = ctx.series[meta.entity_id]
    flow = flow_of(meta)
    meter = power = None
    if measure is Measure.ENERGY_METER:
        meter = analyse_meter(series, meta.unit, ctx.max_gap_ns, meta.state_class)
        curve = meter.curve
    else:
        power = integrate_power(
            series, meta.unit, ctx.max_gap_ns, clip_negative=flow != Flow.GRID_IMPORT
        )
        curve = power.curve
    covered_h = float(curve.total(ctx.start_ns, ctx.horizon_ns).covered_h[0])
    observed_h = ctx.observed_ns / NS_PER_H
    return EnergyInput(
        meta=meta,
        measure=measure,
        flow=flow,
        curve=curve,
        meter=meter,
        power=power,
        window=curve.total(ctx.start_ns, ctx.end_ns),
        coverage=min(covered_h / observed_h, 1.0),
        uncovered_h=max(observed_h - covered_h, 0.0),
    )


def _device_key(inp: EnergyInput) -> tuple[Flow, str]:
    return inp.flow, _DEVICE_SUFFIX.sub("", inp.entity_id.split(".", 1)[-1])


def collect_inputs(ctx: AnalysisContext) -> list[EnergyInput]:
    """One input per device and flow: where a meter and a power sensor describe the same device
    (`sensor.washer_energy` and `sensor.washer_power`), the meter wins and the sensor is dropped."""
    inputs = []
    for entity_id in sorted(ctx.series):
        meta = ctx.meta(entity_id)
        measure = measure_of(meta)
        if measure in (Measure.ENERGY_METER, Measure.POWER):
            inputs.append(_build(ctx, meta, measure))
    metered = {_device_key(i) for i in inputs if i.measure is Measure.ENERGY_METER}
    return [i for i in inputs if i.measure is Measure.ENERGY_METER or _device_key(i) not in metered]


def of_flow(inputs: list[EnergyInput], flow: Flow) -> list[EnergyInput]:
    """Inputs of one flow; when the flow has a meter, its power sensors are not counted again."""
    chosen = [i for i in inputs if i.flow is flow]
    if flow is not Flow.CONSUMER and any(i.measure is Measure.ENERGY_METER for i in chosen):
        return [i for i in chosen if i.measure is Measure.ENERGY_METER]
    return chosen


@dataclass(frozen=True)
class Balance:
    site: list[EnergyInput]
    """What the site's demand is read from: grid import, else the metered devices."""
    from_grid: bool
    grid_kwh: float
    production: list[EnergyInput]
    export: list[EnergyInput]
    consumers: list[EnergyInput]

    @property
    def site_kwh(self) -> float:
        return sum(i.kwh for i in self.site)

    @property
    def production_kwh(self) -> float | None:
        return sum(i.kwh for i in self.production) if self.production else None

    @property
    def export_kwh(self) -> float | None:
        return sum(i.kwh for i in self.export) if self.export else None

    @property
    def self_consumed_kwh(self) -> float | None:
        produced, exported = self.production_kwh, self.export_kwh
        if produced is None or exported is None:
            return None
        return max(produced - exported, 0.0)

    @property
    def household_kwh(self) -> float:
        """Grid import plus self-consumed solar; without an export meter a lower bound."""
        consumers = sum(i.kwh for i in self.consumers)
        return max(self.grid_kwh + (self.self_consumed_kwh or 0.0), consumers)


def balance(inputs: list[EnergyInput]) -> Balance:
    grid = of_flow(inputs, Flow.GRID_IMPORT)
    consumers = of_flow(inputs, Flow.CONSUMER)
    return Balance(
        site=grid or consumers,
        from_grid=bool(grid),
        grid_kwh=sum(i.kwh for i in grid),
        production=of_flow(inputs, Flow.PRODUCTION),
        export=of_flow(inputs, Flow.GRID_EXPORT),
        consumers=consumers,
    )
