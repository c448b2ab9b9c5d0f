"""Helpers shared by the analysts: confidence from coverage, finding scaffolding, the empty case."""

from __future__ import annotations

from typing import Final

from aether.analysis.context import AnalysisContext
from aether.analysis.findings import (
    AnalysisResult,
    AnalystName,
    Evidence,
    Finding,
    Metric,
)
from aether.analysis.periods import to_datetime
from aether.analysis.text import capitalised

CONFIDENCE_CEILING: Final = 0.95
"""Even complete data leaves room for doubt (unmetered loads, sensor accuracy)."""
NO_DATA: Final = "no_data"


def confidence(coverage: float, factor: float = 1.0) -> float:
    """Confidence grows linearly with the share of the window the inputs cover."""
    value = CONFIDENCE_CEILING * min(max(coverage, 0.0), 1.0) * min(max(factor, 0.0), 1.0)
    return round(value, 3)


def make_finding(
    ctx: AnalysisContext,
    analyst: AnalystName,
    kind: str,
    title: str,
    summary: str,
    conf: float,
    *,
    metrics: list[Metric] | None = None,
    entities: list[str] | None = None,
    evidence: list[Evidence] | None = None,
    importance: float = 0.5,
) -> Finding:
    return Finding(
        analyst=analyst,
        kind=kind,
        title=title,
        summary=capitalised(summary),
        confidence=round(min(max(conf, 0.0), 1.0), 3),
        metrics=metrics or [],
        entities=entities or [],
        evidence=evidence or [],
        period_start=to_datetime(ctx.start_ns),
        period_end=to_datetime(ctx.end_ns),
        importance=importance,
    )


def evidence(
    description: str,
    entity_id: str | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    **data: object,
) -> Evidence:
    return Evidence(
        description=description,
        entity_id=entity_id,
        start=None if start_ns is None else to_datetime(start_ns),
        end=None if end_ns is None else to_datetime(end_ns),
        data=dict(data),
    )


def metrics_for(entity_id: str | None, *rows: tuple[str, float, str]) -> list[Metric]:
    """Metrics of one entity from (name, value, unit) rows."""
    return [Metric(name=n, value=v, unit=u, entity_id=entity_id) for n, v, u in rows]


def no_data_result(ctx: AnalysisContext, analyst: AnalystName, what: str) -> AnalysisResult:
    """One finding that says plainly what is missing, with confidence 0."""
    finding = make_finding(
        ctx,
        analyst,
        NO_DATA,
        "No data",
        f"there is no {what} for {ctx.phrase}, so nothing can be said about it.",
        0.0,
        evidence=[evidence(f"no {what} in the window", None, ctx.start_ns, ctx.end_ns)],
        importance=1.0,
    )
    return AnalysisResult(analyst=analyst, findings=[finding], confidence=0.0, notes=[])
