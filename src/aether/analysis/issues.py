"""One finding per data problem of one entity, each naming the entity and the time range."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import numpy as np

from aether.analysis.common import evidence, make_finding
from aether.analysis.context import AnalysisContext
from aether.analysis.findings import Evidence, Finding, Metric
from aether.analysis.inspection import EntityReport
from aether.analysis.periods import NS_PER_H, to_datetime
from aether.analysis.quality import Range
from aether.analysis.text import hours, moment, span

OBSERVED: Final = 0.95
"""Confidence of a finding that reports what is plainly in the data."""
MAX_EVIDENCE: Final = 10


def _h(ranges: list[Range]) -> float:
    return sum(b - a for a, b in ranges) / NS_PER_H


def _metric(
    r: EntityReport, name: str, value: float, unit: str, at_ns: int | None = None
) -> Metric:
    at: datetime | None = None if at_ns is None else to_datetime(at_ns)
    return Metric(name=name, value=value, unit=unit, entity_id=r.entity_id, at=at)


def _issue(
    ctx: AnalysisContext,
    r: EntityReport,
    kind: str,
    title: str,
    summary: str,
    metrics: list[Metric],
    proof: list[Evidence],
    importance: float,
) -> Finding:
    return make_finding(
        ctx,
        "diagnostic",
        kind,
        title,
        f"{r.name} ({r.entity_id}) {summary}",
        OBSERVED,
        metrics=metrics,
        entities=[r.entity_id],
        evidence=proof[:MAX_EVIDENCE],
        importance=importance,
    )


def gap_finding(ctx: AnalysisContext, r: EntityReport) -> Finding | None:
    if not r.gaps:
        return None
    longest = max(r.gaps, key=lambda g: g[1] - g[0])
    summary = (
        f"has {len(r.gaps)} gap(s) in {ctx.phrase}, {hours(_h(r.gaps))} in total; the longest "
        f"is {hours(_h([longest]))}, {span(*longest, ctx.timezone)}."
    )
    metrics = [
        _metric(r, "gap_count", len(r.gaps), "count"),
        _metric(r, "gap_time", round(_h(r.gaps), 3), "h"),
        _metric(r, "longest_gap", round(_h([longest]), 3), "h", longest[0]),
    ]
    biggest = sorted(sorted(r.gaps, key=lambda g: g[0] - g[1])[:MAX_EVIDENCE])
    proof = [evidence(f"no reading for {hours(_h([g]))}", r.entity_id, *g) for g in biggest]
    return _issue(ctx, r, "gap", "Gaps in the data", summary, metrics, proof, 0.5)


def stale_finding(ctx: AnalysisContext, r: EntityReport) -> Finding | None:
    if r.stale_since_ns is None:
        return None
    silent = (ctx.horizon_ns - r.stale_since_ns) / NS_PER_H
    summary = (
        f"has not reported since {moment(r.stale_since_ns, ctx.timezone)}: {hours(silent)} "
        f"without a new value up to the end of {ctx.phrase}."
    )
    metrics = [_metric(r, "silent_time", round(silent, 2), "h", r.stale_since_ns)]
    proof = [evidence("last report", r.entity_id, r.stale_since_ns, ctx.horizon_ns)]
    return _issue(ctx, r, "stale_sensor", "Stale sensor", summary, metrics, proof, 0.7)


def unavailable_finding(ctx: AnalysisContext, r: EntityReport) -> Finding | None:
    if not r.unavailable:
        return None
    longest = max(r.unavailable, key=lambda g: g[1] - g[0])
    summary = (
        f"was unavailable or unknown for {hours(_h(r.unavailable))} in {ctx.phrase} "
        f"({len(r.unavailable)} period(s); the longest {span(*longest, ctx.timezone)})."
    )
    metrics = [
        _metric(r, "unavailable_time", round(_h(r.unavailable), 3), "h"),
        _metric(r, "unavailable_periods", len(r.unavailable), "count"),
    ]
    proof = [evidence("unavailable/unknown", r.entity_id, *g) for g in r.unavailable]
    return _issue(ctx, r, "unavailable", "Unavailable sensor", summary, metrics, proof, 0.6)


def implausible_finding(ctx: AnalysisContext, r: EntityReport) -> Finding | None:
    if not r.implausible:
        return None
    first = r.implausible[0]
    reasons = "; ".join(sorted({i.reason for i in r.implausible}))
    summary = (
        f"reported {len(r.implausible)} impossible value(s) in {ctx.phrase} ({reasons}), "
        f"the first {first.value:g} on {moment(first.at_ns, ctx.timezone)}."
    )
    metrics = [_metric(r, "impossible_values", len(r.implausible), "count", first.at_ns)]
    proof = [
        evidence(
            i.reason, r.entity_id, i.at_ns, i.at_ns, value=None if np.isnan(i.value) else i.value
        )
        for i in r.implausible
    ]
    return _issue(ctx, r, "impossible_value", "Impossible values", summary, metrics, proof, 0.7)


def reset_finding(ctx: AnalysisContext, r: EntityReport) -> Finding | None:
    if not r.resets:
        return None
    first = r.resets[0]
    summary = (
        f"was reset {len(r.resets)} time(s) in {ctx.phrase}, first on "
        f"{moment(first.at_ns, ctx.timezone)} (from {first.before_kwh:g} to {first.after_kwh:g} "
        "kWh); consumption across a reset is counted from zero."
    )
    metrics = [_metric(r, "meter_resets", len(r.resets), "count", first.at_ns)]
    proof = [
        evidence(
            "meter reset",
            r.entity_id,
            e.at_ns,
            e.at_ns,
            before_kwh=e.before_kwh,
            after_kwh=e.after_kwh,
        )
        for e in r.resets
    ]
    return _issue(ctx, r, "meter_reset", "Meter reset", summary, metrics, proof, 0.5)


def duplicate_finding(ctx: AnalysisContext, r: EntityReport) -> Finding | None:
    o = r.order
    if o.first_duplicate_ns is None:
        return None
    summary = (
        f"has {o.duplicates} duplicate timestamp(s) in {ctx.phrase} ({o.conflicting} with a "
        f"different state), the first at {moment(o.first_duplicate_ns, ctx.timezone)}; the last "
        "reported state is used."
    )
    metrics = [
        _metric(r, "duplicates", o.duplicates, "count"),
        _metric(r, "conflicting_duplicates", o.conflicting, "count"),
    ]
    last = o.last_duplicate_ns if o.last_duplicate_ns is not None else o.first_duplicate_ns
    proof = [
        evidence("duplicated timestamps, first to last", r.entity_id, o.first_duplicate_ns, last)
    ]
    return _issue(
        ctx, r, "duplicate_timestamps", "Duplicate timestamps", summary, metrics, proof, 0.4
    )


def out_of_order_finding(ctx: AnalysisContext, r: EntityReport) -> Finding | None:
    o = r.order
    if o.first_late_ns is None:
        return None
    summary = (
        f"has {o.out_of_order} out-of-order timestamp(s) in {ctx.phrase}, the first at "
        f"{moment(o.first_late_ns, ctx.timezone)}; the analyses sort by time."
    )
    metrics = [_metric(r, "out_of_order", o.out_of_order, "count")]
    first, last = o.late_span or (o.first_late_ns, o.first_late_ns)
    proof = [
        evidence("first out-of-order row", r.entity_id, o.first_late_ns, o.first_late_ns),
        evidence("out-of-order timestamps, earliest to latest", r.entity_id, first, last),
    ]
    return _issue(
        ctx, r, "out_of_order_timestamps", "Out-of-order timestamps", summary, metrics, proof, 0.4
    )


ISSUES: Final = (
    stale_finding,
    unavailable_finding,
    gap_finding,
    implausible_finding,
    reset_finding,
    duplicate_finding,
    out_of_order_finding,
)


def entity_issues(ctx: AnalysisContext, r: EntityReport) -> list[Finding]:
    return [f for check in ISSUES if (f := check(ctx, r)) is not None]
