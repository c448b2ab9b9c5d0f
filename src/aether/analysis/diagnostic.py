"""The diagnostic analyst: is the data fit to answer from? Coverage, gaps, stale sensors,
unavailable periods, impossible values, meter resets, duplicate and out-of-order timestamps.

Each finding names the entity and the time range. The result's confidence is the mean usable
coverage of all entities (readings within the gap tolerance for numeric sensors, a known state for
switches and lights), so it is low exactly when the data is poor and rises with a wider tolerance.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from aether.analysis.common import confidence, evidence, make_finding, no_data_result
from aether.analysis.context import AnalysisContext
from aether.analysis.findings import AnalysisResult, Finding, Metric
from aether.analysis.inspection import EntityReport, inspect_entity
from aether.analysis.issues import MAX_EVIDENCE, OBSERVED, entity_issues
from aether.analysis.periods import NS_PER_MIN
from aether.analysis.text import percent

COMPLETE: Final = 0.99


def _coverage(r: EntityReport) -> float:
    return r.spacing.coverage or 0.0


def _interval_min(r: EntityReport) -> float:
    return (r.spacing.interval_ns or 0) / NS_PER_MIN


def coverage_finding(ctx: AnalysisContext, reports: list[EntityReport]) -> Finding | None:
    """Readings received against readings expected at each sensor's median spacing."""
    measured = [r for r in reports if r.measured and r.spacing.coverage is not None]
    if not measured:
        return None
    worst = min(measured, key=_coverage)
    complete = sum(_coverage(r) >= COMPLETE for r in measured)
    summary = (
        f"in {ctx.phrase} {complete} of {len(measured)} sensors reported at least 99 % of "
        "their expected readings"
    )
    if _coverage(worst) < COMPLETE:
        summary += (
            f"; the lowest is {worst.name} ({worst.entity_id}) with "
            f"{percent(100 * _coverage(worst))} (one reading every {_interval_min(worst):.0f} "
            "min expected)"
        )
    metrics = [
        Metric(name=name, value=value, unit=unit, entity_id=r.entity_id)
        for r in measured
        for name, value, unit in (
            ("coverage", round(100 * _coverage(r), 1), "%"),
            ("expected_interval", round(_interval_min(r), 2), "min"),
        )
    ]
    proof = [
        evidence(
            f"{r.spacing.points} readings",
            r.entity_id,
            ctx.start_ns,
            ctx.horizon_ns,
            readings=r.spacing.points,
            coverage=round(_coverage(r), 4),
        )
        for r in measured
    ]
    return make_finding(
        ctx,
        "diagnostic",
        "coverage",
        "Data coverage",
        summary + ".",
        OBSERVED,
        metrics=metrics,
        entities=[r.entity_id for r in measured],
        evidence=proof,
        importance=0.3,
    )


def summary_finding(
    ctx: AnalysisContext, reports: list[EntityReport], issues: list[Finding], conf: float
) -> Finding:
    kinds = sorted({f.kind for f in issues})
    affected = sorted({e for f in issues for e in f.entities})
    usable = float(np.mean([r.usable for r in reports]))
    text = f"data quality in {ctx.phrase}: {len(reports)} entities, {percent(100 * usable)} usable"
    if issues:
        text += f" coverage; issues with {len(affected)} entities ({', '.join(kinds)})."
    else:
        text += " coverage; no issues found."
    metrics = [
        Metric(name="entities", value=len(reports), unit="count"),
        Metric(name="usable_coverage", value=round(100 * usable, 1), unit="%"),
        Metric(name="issues", value=len(issues), unit="count"),
    ]
    proof = [
        evidence(f.title, f.entities[0] if f.entities else None, ctx.start_ns, ctx.end_ns)
        for f in issues[:MAX_EVIDENCE]
    ]
    return make_finding(
        ctx,
        "diagnostic",
        "quality_summary",
        "Data quality",
        text,
        conf,
        metrics=metrics,
        entities=affected,
        evidence=proof,
        importance=0.5 if issues else 0.3,
    )


def analyse_quality(ctx: AnalysisContext) -> AnalysisResult:
    if not ctx.has_data:
        return no_data_result(ctx, "diagnostic", "data")
    reports = [inspect_entity(ctx, e) for e in sorted(ctx.series)]
    issues = [f for r in reports for f in entity_issues(ctx, r)]
    conf = confidence(float(np.mean([r.usable for r in reports])))
    findings = [summary_finding(ctx, reports, issues, conf), *issues]
    coverage = coverage_finding(ctx, reports)
    if coverage is not None:
        findings.append(coverage)
    return AnalysisResult(analyst="diagnostic", findings=findings, confidence=conf, notes=[])
