"""How much: grid import and household consumption for the window, per entity, top consumers and
solar production.

Household consumption = grid import + (solar production - export) when both are metered; without
them it is the larger of grid import and the sum of the metered devices (a lower bound).
"""

from __future__ import annotations

import numpy as np

from aether.analysis.common import evidence, make_finding
from aether.analysis.context import AnalysisContext
from aether.analysis.energy_inputs import Balance, EnergyInput
from aether.analysis.findings import Evidence, Finding, Metric
from aether.analysis.meters import MeterEvent
from aether.analysis.periods import NS_PER_H, to_datetime
from aether.analysis.text import hours, kwh, moment, percent, watts

TOP_CONSUMERS = 5


def _days(ctx: AnalysisContext) -> float:
    return ctx.duration_ns / NS_PER_H / 24.0


def _moments(events: list[MeterEvent]) -> list[str]:
    return [to_datetime(e.at_ns).isoformat() for e in events]


def _input_evidence(
    inp: EnergyInput, ctx: AnalysisContext, periods: dict[str, object] | None = None
) -> Evidence:
    method = "meter differences" if inp.meter is not None else "power integrated over time"
    return evidence(
        f"{inp.meta.friendly_name}: {kwh(inp.kwh)} ({method})",
        inp.entity_id,
        ctx.start_ns,
        ctx.end_ns,
        kwh=round(inp.kwh, 3),
        coverage=round(inp.coverage, 3),
        uncovered_hours=round(inp.uncovered_h, 2),
        meter_resets=[] if inp.meter is None else _moments(inp.meter.resets),
        metering_periods=[] if inp.meter is None else _moments(inp.meter.cycles),
        **(periods or {}),
    )


def total_finding(ctx: AnalysisContext, bal: Balance, conf: float) -> Finding:
    per_day = bal.site_kwh / _days(ctx)
    metrics = [
        Metric(
            name="grid_import" if bal.from_grid else "metered_consumption",
            value=round(bal.site_kwh, 3),
            unit="kWh",
        ),
        Metric(name="average_per_day", value=round(per_day, 3), unit="kWh/day"),
    ]
    if bal.from_grid:
        summary = f"{ctx.phrase} you used {kwh(bal.site_kwh)} from the grid"
    else:
        summary = f"{ctx.phrase} your metered devices used {kwh(bal.site_kwh)}"
    summary += f", {kwh(per_day)} per day on average."
    self_consumed = bal.self_consumed_kwh
    if bal.from_grid and self_consumed is not None:
        household = bal.household_kwh
        summary += (
            f" With {kwh(self_consumed)} of your own solar energy the household consumed "
            f"{kwh(household)}."
        )
        metrics += [
            Metric(name="solar_self_consumption", value=round(self_consumed, 3), unit="kWh"),
            Metric(name="household_consumption", value=round(household, 3), unit="kWh"),
        ]
    return make_finding(
        ctx,
        "energy",
        "consumption_total",
        "Total consumption",
        summary,
        conf,
        metrics=metrics,
        entities=[i.entity_id for i in bal.site],
        evidence=[_input_evidence(i, ctx) for i in bal.site],
        importance=0.9,
    )


def by_entity_finding(
    ctx: AnalysisContext,
    inputs: list[EnergyInput],
    conf: float,
    periods: dict[str, dict[str, object]] | None = None,
) -> Finding:
    """Every meter and sensor; `periods` adds each one's totals per local day, week and month
    to its evidence."""
    ranked = sorted(inputs, key=lambda i: i.kwh, reverse=True)
    parts = ", ".join(f"{i.meta.friendly_name} {kwh(i.kwh)}" for i in ranked[:8])
    summary = f"energy per meter and sensor in {ctx.phrase}: {parts}."
    gaps = [i for i in ranked if i.power is not None and i.uncovered_h >= 0.25]
    if gaps:
        worst = max(gaps, key=lambda i: i.uncovered_h)
        summary += (
            f" {len(gaps)} sensor(s) could not be integrated for part of the period (gaps longer "
            f"than {ctx.params.max_gap_minutes:.0f} min), most of all {worst.meta.friendly_name} "
            f"({hours(worst.uncovered_h)})."
        )
    metrics = [
        Metric(name="energy", value=round(i.kwh, 3), unit="kWh", entity_id=i.entity_id)
        for i in ranked
    ]
    metrics += [
        Metric(
            name="uncovered_time", value=round(i.uncovered_h, 2), unit="h", entity_id=i.entity_id
        )
        for i in ranked
        if i.uncovered_h > 0
    ]
    return make_finding(
        ctx,
        "energy",
        "consumption_by_entity",
        "Consumption per meter",
        summary,
        conf,
        metrics=metrics,
        entities=[i.entity_id for i in ranked],
        evidence=[_input_evidence(i, ctx, (periods or {}).get(i.entity_id)) for i in ranked],
        importance=0.5,
    )


def top_consumers_finding(ctx: AnalysisContext, bal: Balance, conf: float) -> Finding | None:
    ranked = sorted((i for i in bal.consumers if i.kwh > 0), key=lambda i: i.kwh, reverse=True)
    total = bal.household_kwh
    if not ranked or total <= 0:
        return None
    top = ranked[:TOP_CONSUMERS]
    parts = ", ".join(
        f"{i.meta.friendly_name} {kwh(i.kwh)} ({percent(100 * i.kwh / total)})" for i in top
    )
    unmetered = max(total - sum(i.kwh for i in bal.consumers), 0.0)
    summary = f"the biggest consumers in {ctx.phrase} were {parts}"
    summary += (
        f"; {kwh(unmetered)} ({percent(100 * unmetered / total)}) is not sub-metered."
        if bal.from_grid
        else "."
    )
    metrics = []
    for i in top:
        metrics += [
            Metric(name="energy", value=round(i.kwh, 3), unit="kWh", entity_id=i.entity_id),
            Metric(
                name="share", value=round(100 * i.kwh / total, 1), unit="%", entity_id=i.entity_id
            ),
        ]
    if bal.from_grid:
        metrics.append(Metric(name="unmetered", value=round(unmetered, 3), unit="kWh"))
    return make_finding(
        ctx,
        "energy",
        "top_consumers",
        "Top consumers",
        summary,
        conf,
        metrics=[*metrics, Metric(name="household_consumption", value=round(total, 3), unit="kWh")],
        entities=[i.entity_id for i in top],
        evidence=[_input_evidence(i, ctx) for i in top],
        importance=0.7,
    )


def solar_finding(ctx: AnalysisContext, bal: Balance, conf: float) -> Finding | None:
    produced = bal.production_kwh
    if produced is None:
        return None
    summary = f"your solar panels produced {kwh(produced)} in {ctx.phrase}"
    metrics = [Metric(name="solar_production", value=round(produced, 3), unit="kWh")]
    peak = _peak_production(ctx, bal)
    if peak is not None:
        summary += f", peaking at {watts(peak[0])} on {moment(peak[1], ctx.timezone)}"
        metrics.append(
            Metric(
                name="peak_production", value=round(peak[0], 1), unit="W", at=to_datetime(peak[1])
            )
        )
    exported, self_consumed = bal.export_kwh, bal.self_consumed_kwh
    if exported is not None and self_consumed is not None and produced > 0:
        ratio = 100.0 * self_consumed / produced
        summary += f"; you used {percent(ratio)} of it yourself and exported {kwh(exported)}"
        metrics += [
            Metric(name="solar_self_consumption", value=round(self_consumed, 3), unit="kWh"),
            Metric(name="self_consumption_ratio", value=round(ratio, 1), unit="%"),
            Metric(name="grid_export", value=round(exported, 3), unit="kWh"),
        ]
    return make_finding(
        ctx,
        "energy",
        "solar_production",
        "Solar production",
        summary + ".",
        conf,
        metrics=metrics,
        entities=[i.entity_id for i in bal.production + bal.export],
        evidence=[_input_evidence(i, ctx) for i in bal.production + bal.export],
        importance=0.6,
    )


def _peak_production(ctx: AnalysisContext, bal: Balance) -> tuple[float, int] | None:
    """Highest average production (W) of one interval between solar readings in the window."""
    best: tuple[float, int] | None = None
    for inp in bal.production:
        t = inp.curve.t
        inside = (t[:-1] >= ctx.start_ns) & (t[1:] <= ctx.end_ns)
        if inp.power is None or not inside.any():
            continue
        energy = np.diff(inp.curve.covered_energy)
        watts_avg = np.where(inside, energy / (np.diff(t) / NS_PER_H) * 1000.0, -np.inf)
        top = int(watts_avg.argmax())
        if best is None or watts_avg[top] > best[0]:
            best = (float(watts_avg[top]), int(inp.curve.t[top]))
    return best
