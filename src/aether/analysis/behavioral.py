"""The behavioral analyst: how switches and lights are used, routines worth automating, and
devices left on through the night.

Confidence is the share of the window in which the on/off state of these entities is known
(a state holds until the next one, so the gap tolerance does not apply), scaled down for windows
shorter than a week, where routines cannot be told from chance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from typing import Final

import numpy as np

from aether.analysis.common import (
    confidence,
    evidence,
    make_finding,
    metrics_for,
    no_data_result,
)
from aether.analysis.context import AnalysisContext
from aether.analysis.findings import AnalysisResult, Evidence, Finding
from aether.analysis.onoff import Timeline, timeline
from aether.analysis.periods import (
    NS_PER_H,
    local_index,
    local_time_ns,
    local_window_days,
    quarter_edges,
)
from aether.analysis.recurring import Routine, find_routines
from aether.analysis.roles import Measure, measure_of
from aether.analysis.standby import standby_findings
from aether.analysis.text import clock, day, hours
from aether.analysis.units import FloatArray

NIGHT: Final = (time(0), time(6))
LEFT_ON_HOURS: Final = 4.0
FULL_WEEK_DAYS: Final = 7.0


def _name(ctx: AnalysisContext, entity_id: str) -> str:
    meta = ctx.meta(entity_id)
    return meta.friendly_name if meta.friendly_name != entity_id else entity_id


def usage_matrix(ctx: AnalysisContext, line: Timeline) -> FloatArray:
    """On-hours by local weekday (rows, Monday = 0) and hour of day (columns), 7 x 24."""
    edges = quarter_edges(ctx.start_ns, ctx.end_ns)
    on, _ = line.hours(edges)
    local = local_index(edges[:-1], ctx.timezone)
    cell = np.asarray(local.day_of_week * 24 + local.hour, dtype=np.int64)
    counts = np.bincount(cell, weights=on, minlength=7 * 24)
    return np.asarray(counts, dtype=np.float64).reshape(7, 24)


def busy_hours(by_hour: FloatArray) -> tuple[int, int]:
    """The run of hours around the busiest one with at least half its on-time: [first, end)."""
    top = int(np.argmax(by_hour))
    busy = by_hour >= by_hour[top] / 2
    first, last = top, top
    while busy[(first - 1) % 24] and (first - 1) % 24 != top:
        first = (first - 1) % 24
    while busy[(last + 1) % 24] and (last + 1) % 24 != first:
        last = (last + 1) % 24
    return first, (last + 1) % 24


def usage_finding(ctx: AnalysisContext, line: Timeline, conf: float) -> Finding | None:
    matrix = usage_matrix(ctx, line)
    total = float(matrix.sum())
    if total <= 0:
        return None
    days = ctx.duration_ns / NS_PER_H / 24.0
    first, last = busy_hours(matrix.sum(axis=0))
    summary = (
        f"{_name(ctx, line.entity_id)} was on for {hours(total)} in {ctx.phrase} "
        f"({hours(total / days)} per day), mostly between {first:02d}:00 and {last:02d}:00, "
        f"and was switched on {len(line.switched_on)} times."
    )
    metrics = metrics_for(
        line.entity_id,
        ("on_time", round(total, 3), "h"),
        ("on_time_per_day", round(total / days, 3), "h/day"),
        ("switch_on_count", len(line.switched_on), "count"),
    )
    proof = evidence(
        "on-hours by local weekday (Monday first) and hour of day",
        line.entity_id,
        ctx.start_ns,
        ctx.end_ns,
        on_hours_by_weekday_hour=np.round(matrix, 3).tolist(),
    )
    return make_finding(
        ctx,
        "behavioral",
        "usage_pattern",
        "Usage pattern",
        summary,
        conf,
        metrics=metrics,
        entities=[line.entity_id],
        evidence=[proof],
        importance=0.4,
    )


def _routine_text(r: Routine) -> str:
    verb = "switched on" if r.action == "on" else "switched off"
    when = f"around {clock(r.minute)} on {r.days}"
    return f"{verb} {when} ({r.pattern_days} of {r.eligible_days} days)"


def _routine_evidence(ctx: AnalysisContext, entity_id: str, r: Routine) -> Evidence:
    return evidence(
        _routine_text(r),
        entity_id,
        ctx.start_ns,
        ctx.end_ns,
        action=r.action,
        time=clock(r.minute),
        days=r.days,
        support_days=r.support_days,
        pattern_days=r.pattern_days,
        eligible_days=r.eligible_days,
        spread_minutes=round(r.spread_min, 1),
        confidence=r.confidence,
        dates=[d.isoformat() for d in r.dates],
    )


def routine_finding(ctx: AnalysisContext, line: Timeline, routines: list[Routine]) -> Finding:
    """One finding per entity, its routines in the evidence (best first)."""
    best = routines[0]
    listed = "; ".join(_routine_text(r) for r in routines[:3])
    summary = (
        f"in {ctx.phrase} {_name(ctx, line.entity_id)} was {listed}: a candidate for an automation."
    )
    metrics = metrics_for(
        line.entity_id,
        ("typical_time", round(best.minute / 60.0, 3), "h"),
        ("support_days", best.support_days, "count"),
        ("eligible_days", best.eligible_days, "count"),
        ("spread", round(best.spread_min, 1), "min"),
    )
    return make_finding(
        ctx,
        "behavioral",
        "recurring_action",
        "Recurring manual action",
        summary,
        best.confidence,
        metrics=metrics,
        entities=[line.entity_id],
        evidence=[_routine_evidence(ctx, line.entity_id, r) for r in routines],
        importance=0.7,
    )


@dataclass(frozen=True)
class Night:
    day: date
    """The date the night ends on (00:00-06:00 of this day)."""
    start_ns: int
    end_ns: int
    on_h: float
    known_h: float


def nights(ctx: AnalysisContext, line: Timeline) -> list[Night]:
    """Every night fully inside the observed part of the window."""
    spans = []
    for night in local_window_days(ctx.start_ns, ctx.end_ns, ctx.timezone):
        a, b = (local_time_ns(night, clock_time, ctx.timezone) for clock_time in NIGHT)
        if a >= ctx.start_ns and b <= ctx.horizon_ns:
            spans.append((night, a, b))
    if not spans:
        return []
    on, known = line.hours(np.array([x for _, a, b in spans for x in (a, b)], dtype=np.int64))
    return [
        Night(night, a, b, float(on[2 * k]), float(known[2 * k]))
        for k, (night, a, b) in enumerate(spans)
    ]


def night_finding(ctx: AnalysisContext, line: Timeline) -> Finding | None:
    observed = nights(ctx, line)
    left_on = [n for n in observed if n.on_h >= LEFT_ON_HOURS]
    if not left_on:
        return None
    summary = (
        f"{_name(ctx, line.entity_id)} was left on through the night on {len(left_on)} of "
        f"{len(observed)} nights in {ctx.phrase} (at least {LEFT_ON_HOURS:.0f} h between 00:00 "
        f"and 06:00), most recently the night to {day(left_on[-1].day)}."
    )
    night_h = sum((n.end_ns - n.start_ns) / NS_PER_H for n in observed)
    metrics = metrics_for(
        line.entity_id,
        ("nights_left_on", len(left_on), "count"),
        ("nights_observed", len(observed), "count"),
        ("night_on_time", round(sum(n.on_h for n in left_on), 2), "h"),
    )
    proof = [
        evidence(
            f"on {hours(n.on_h)} of the night",
            line.entity_id,
            n.start_ns,
            n.end_ns,
            on_hours=round(n.on_h, 2),
        )
        for n in left_on
    ]
    return make_finding(
        ctx,
        "behavioral",
        "left_on_overnight",
        "Left on overnight",
        summary,
        confidence(sum(n.known_h for n in observed) / night_h),
        metrics=metrics,
        entities=[line.entity_id],
        evidence=proof,
        importance=0.6,
    )


def _entity_findings(ctx: AnalysisContext, line: Timeline, conf: float) -> list[Finding]:
    window_days = local_window_days(ctx.start_ns, ctx.horizon_ns, ctx.timezone)
    routines = find_routines(line.switched_on, "on", ctx.timezone, window_days)
    routines += find_routines(line.switched_off, "off", ctx.timezone, window_days)
    routines.sort(key=lambda r: r.confidence, reverse=True)
    found = [usage_finding(ctx, line, conf), night_finding(ctx, line)]
    if routines:
        found.append(routine_finding(ctx, line, routines))
    return [f for f in found if f is not None]


def analyse_behavior(ctx: AnalysisContext) -> AnalysisResult:
    if not ctx.has_data:
        return no_data_result(ctx, "behavioral", "data")
    ids = [e for e in sorted(ctx.series) if measure_of(ctx.meta(e)) is Measure.ON_OFF]
    standby = standby_findings(ctx)
    if not ids and not standby:
        return no_data_result(ctx, "behavioral", "switch, light or device power data")
    lines = [timeline(ctx.series[e], ctx.start_ns, ctx.end_ns) for e in ids]
    edges = np.array([ctx.start_ns, ctx.horizon_ns], dtype=np.int64)
    observed_h = ctx.observed_ns / NS_PER_H
    shares = [line.hours(edges)[1][0] / observed_h for line in lines]
    days = ctx.duration_ns / NS_PER_H / 24.0
    conf = confidence(float(np.mean(shares)), days / FULL_WEEK_DAYS) if shares else 0.0
    findings = [f for line in lines for f in _entity_findings(ctx, line, conf)]
    if not lines:
        conf = max(f.confidence for f in standby)
    return AnalysisResult(
        analyst="behavioral", findings=findings + standby, confidence=conf, notes=[]
    )
