"""Everything the diagnostic analyst checks about one entity, gathered in one report."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aether.analysis.context import AnalysisContext
from aether.analysis.meters import MeterEvent, analyse_meter
from aether.analysis.plausibility import Implausible, implausible_values
from aether.analysis.quality import (
    GAP_FACTOR,
    Range,
    RawOrder,
    Spacing,
    gaps,
    known_coverage,
    spacing,
    stale_since,
    unavailable_periods,
    usable_coverage,
)
from aether.analysis.roles import Measure, measure_of


@dataclass(frozen=True)
class EntityReport:
    entity_id: str
    name: str
    measured: bool
    """Reports numbers at a regular pace (coverage, gaps and staleness apply)."""
    spacing: Spacing
    usable: float
    """Usable coverage: within the gap tolerance for numbers, known state for on/off entities."""
    gaps: list[Range]
    stale_since_ns: int | None
    unavailable: list[Range]
    implausible: list[Implausible]
    resets: list[MeterEvent]
    order: RawOrder


def _is_measured(ctx: AnalysisContext, entity_id: str) -> bool:
    series = ctx.series[entity_id]
    if measure_of(ctx.meta(entity_id)) not in (
        Measure.ENERGY_METER,
        Measure.POWER,
        Measure.NUMERIC,
    ):
        return False
    known = series.known
    return bool(known.any()) and float(np.mean(series.valid[known])) >= 0.5


def inspect_entity(ctx: AnalysisContext, entity_id: str) -> EntityReport:
    series, meta = ctx.series[entity_id], ctx.meta(entity_id)
    start, horizon = ctx.start_ns, ctx.horizon_ns
    measured = _is_measured(ctx, entity_id)
    space = spacing(series, start, horizon, ctx.end_ns)
    meter = (
        analyse_meter(series, meta.unit, ctx.max_gap_ns, meta.state_class)
        if measure_of(meta) is Measure.ENERGY_METER
        else None
    )
    threshold = max(ctx.max_gap_ns, GAP_FACTOR * (space.interval_ns or 0))
    return EntityReport(
        entity_id=entity_id,
        name=meta.friendly_name,
        measured=measured,
        spacing=space,
        usable=usable_coverage(series, start, horizon, ctx.max_gap_ns)
        if measured
        else known_coverage(series, start, horizon),
        gaps=gaps(series, start, horizon, threshold) if measured else [],
        stale_since_ns=stale_since(series, horizon, space.interval_ns) if measured else None,
        unavailable=unavailable_periods(series, start, horizon),
        implausible=implausible_values(series, meta, meter, start, ctx.end_ns),
        resets=[] if meter is None else [r for r in meter.resets if start <= r.at_ns < ctx.end_ns],
        order=ctx.orders.get(entity_id, RawOrder()),
    )
