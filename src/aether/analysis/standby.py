"""Standby consumption: what a device draws while it is off or idle, and what that adds up to.

Per consumer power sensor, on fully covered 15-minute averages:
- with a switch of the same device (`switch.tv` and `sensor.tv_power`), the device is *off* in the
  quarter hours its switch was off throughout, and standby is its average power then;
- otherwise it is *idle* in the quarter hours at or below max(1.5 × its 10th percentile, 10th
  percentile + 5 W), and standby is its average power then. Only devices that are visibly used
  (99th percentile at least 3 × that threshold and 20 W) count: for an always-on device (a fridge,
  a router) the floor is its normal operation, which the baseload already covers.
Standby is reported from 1 W, with its energy over the idle time, per year (× 8,760 h) and, with
a tariff, its yearly cost at the tariff's average price over the week.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import numpy as np

from aether.analysis.common import confidence, evidence, make_finding, metrics_for
from aether.analysis.context import AnalysisContext
from aether.analysis.curves import Curve
from aether.analysis.findings import Finding
from aether.analysis.onoff import timeline
from aether.analysis.periods import NS_PER_H, QUARTER_NS, quarter_edges
from aether.analysis.power import integrate_power
from aether.analysis.roles import Flow, Measure, flow_of, measure_of
from aether.analysis.text import hours, kwh, money, watts
from aether.analysis.units import FloatArray

MIN_STANDBY_W: Final = 1.0
IDLE_PERCENTILE: Final = 10.0
ACTIVE_PERCENTILE: Final = 99.0
HOURS_PER_YEAR: Final = 8760.0
MIN_IDLE_QUARTERS: Final = 96
"""A day's worth of idle quarter hours gives full confidence; fewer scale it down."""
_SUFFIX: Final = re.compile(r"_(power|energy|consumption|kwh|w)$")


@dataclass(frozen=True)
class Standby:
    entity_id: str
    watts: float
    idle_h: float
    method: str
    switch: str | None
    covered: float
    """Share of the window's quarter hours fully covered by readings."""
    quarters: int


def _device(entity_id: str) -> str:
    return _SUFFIX.sub("", entity_id.split(".", 1)[-1])


def _switches(ctx: AnalysisContext) -> dict[str, str]:
    return {_device(e): e for e in ctx.series if measure_of(ctx.meta(e)) is Measure.ON_OFF}


def _quarter_watts(ctx: AnalysisContext, curve: Curve, edges: np.ndarray) -> FloatArray:
    """15-minute average power of fully covered quarter hours (NaN elsewhere)."""
    b = curve.buckets(edges)
    full = (np.diff(edges) == QUARTER_NS) & (b.covered_h >= 0.999 * QUARTER_NS / NS_PER_H)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(full, b.covered_kwh / b.covered_h * 1000.0, np.nan)


def _idle_mask(power: FloatArray) -> np.ndarray | None:
    """Idle quarter hours of a visibly used device, None for an always-on one."""
    seen = power[~np.isnan(power)]
    if len(seen) < MIN_IDLE_QUARTERS:
        return None
    floor = float(np.percentile(seen, IDLE_PERCENTILE))
    threshold = max(1.5 * floor, floor + 5.0)
    busy = float(np.percentile(seen, ACTIVE_PERCENTILE))
    if busy < max(3.0 * threshold, 20.0):
        return None
    return np.asarray(power <= threshold, dtype=bool)


def measure_standby(ctx: AnalysisContext, entity_id: str, switch: str | None) -> Standby | None:
    meta = ctx.meta(entity_id)
    curve = integrate_power(ctx.series[entity_id], meta.unit, ctx.max_gap_ns).curve
    edges = quarter_edges(ctx.start_ns, ctx.horizon_ns)
    power = _quarter_watts(ctx, curve, edges)
    if switch is not None:
        on_h, known_h = timeline(ctx.series[switch], ctx.start_ns, ctx.end_ns).hours(edges)
        length = np.diff(edges) / NS_PER_H
        idle = (known_h >= 0.999 * length) & (on_h == 0) & ~np.isnan(power)
        method = "switched off"
    else:
        mask = _idle_mask(power)
        if mask is None:
            return None
        idle, method = mask & ~np.isnan(power), "idle"
    if not idle.any():
        return None
    average = float(np.mean(power[idle]))
    covered = float(np.mean(~np.isnan(power))) if len(power) else 0.0
    idle_h = float(np.count_nonzero(idle)) * QUARTER_NS / NS_PER_H
    return Standby(entity_id, average, idle_h, method, switch, covered, int(idle.sum()))


def standby_finding(ctx: AnalysisContext, s: Standby) -> Finding | None:
    if s.watts < MIN_STANDBY_W:
        return None
    name = ctx.meta(s.entity_id).friendly_name
    yearly = s.watts * HOURS_PER_YEAR / 1000.0
    rows = [
        ("standby_power", round(s.watts, 1), "W"),
        ("standby_time", round(s.idle_h, 2), "h"),
        ("standby_energy", round(s.watts * s.idle_h / 1000.0, 3), "kWh"),
        ("standby_per_year", round(yearly, 1), "kWh"),
    ]
    when = "while switched off" if s.switch else "while idle"
    summary = (
        f"{name} drew about {watts(s.watts)} {when} ({hours(s.idle_h)} of {ctx.phrase}); "
        f"left like that all year it uses {kwh(yearly)}"
    )
    tariff = ctx.params.tariff
    if tariff is not None:
        cost = yearly * float(np.mean(tariff.price_grid()))
        rows.append(("standby_cost_per_year", round(cost, 2), tariff.currency))
        summary += f", about {money(cost, tariff.currency)} a year"
    proof = evidence(
        f"average power in {s.quarters} quarter hours {when}",
        s.entity_id,
        ctx.start_ns,
        ctx.horizon_ns,
        method=s.method,
        switch=s.switch,
        quarter_hours=s.quarters,
    )
    return make_finding(
        ctx,
        "behavioral",
        "standby_consumption",
        "Standby consumption",
        summary + ".",
        confidence(s.covered, s.quarters / MIN_IDLE_QUARTERS),
        metrics=metrics_for(s.entity_id, *rows),
        entities=[s.entity_id],
        evidence=[proof],
        importance=min(0.4 + yearly / 200.0, 0.7),
    )


def standby_findings(ctx: AnalysisContext) -> list[Finding]:
    switches = _switches(ctx)
    found = []
    for entity_id in sorted(ctx.series):
        meta = ctx.meta(entity_id)
        if measure_of(meta) is not Measure.POWER or flow_of(meta) is not Flow.CONSUMER:
            continue
        measured = measure_standby(ctx, entity_id, switches.get(_device(entity_id)))
        finding = None if measured is None else standby_finding(ctx, measured)
        if finding is not None:
            found.append(finding)
    return found
