"""The energy analyst: how much, when, always-on, peak, who, and solar.

Confidence follows coverage: the share of the window (up to the household's data horizon) that
is spanned by readings no further apart than `max_gap_minutes`. The result's confidence weighs the
site signal (grid meter) at 60 % and the mean coverage of the sub-metered devices at 40 %, so
tight gap tolerances on sparse data give a low confidence that rises when the orchestrator retries
with a wider tolerance.
"""

from __future__ import annotations

import numpy as np

from aether.analysis.anomalies import anomaly_finding
from aether.analysis.common import confidence, no_data_result
from aether.analysis.consumption import (
    by_entity_finding,
    solar_finding,
    top_consumers_finding,
    total_finding,
)
from aether.analysis.context import AnalysisContext
from aether.analysis.cost import cost_finding
from aether.analysis.demand import baseload_finding, peak_finding, quarters
from aether.analysis.energy_inputs import Balance, EnergyInput, balance, collect_inputs
from aether.analysis.findings import AnalysisResult, Finding
from aether.analysis.periodic import entity_periods, period_finding, week_over_week_finding
from aether.analysis.profile import daily_finding, hourly_finding
from aether.analysis.text import hours
from aether.analysis.weekparts import weekparts_finding

SITE_WEIGHT = 0.6


def _mean_coverage(inputs: list[EnergyInput]) -> float | None:
    return float(np.mean([i.coverage for i in inputs])) if inputs else None


def overall_coverage(site: list[EnergyInput], devices: list[EnergyInput]) -> float:
    if not site:
        return _mean_coverage(devices) or 0.0
    site_cov = min(i.coverage for i in site)
    device_cov = _mean_coverage(devices)
    if device_cov is None:
        return site_cov
    return SITE_WEIGHT * site_cov + (1 - SITE_WEIGHT) * device_cov


def _notes(ctx: AnalysisContext, inputs: list[EnergyInput]) -> list[str]:
    notes = [
        f"{i.entity_id}: {hours(i.uncovered_h)} of the period not covered by readings "
        f"at most {ctx.params.max_gap_minutes:.0f} min apart"
        for i in inputs
        if i.uncovered_h >= 0.25
    ]
    for inp in inputs:
        if inp.meter is not None and inp.meter.resets:
            notes.append(f"{inp.entity_id}: {len(inp.meter.resets)} meter reset(s) handled")
        if inp.meter is not None and inp.meter.cycles:
            notes.append(
                f"{inp.entity_id}: {len(inp.meter.cycles)} new metering period(s) (last_reset)"
            )
    return notes


def _site_findings(ctx: AnalysisContext, bal: Balance) -> list[Finding | None]:
    """What needs a consumption signal: totals, when, baseload, peak and who."""
    if not bal.site:
        return []
    site_conf = confidence(min(i.coverage for i in bal.site))
    device_conf = confidence(_mean_coverage(bal.consumers) or 0.0)
    q = quarters(ctx, bal)
    return [
        total_finding(ctx, bal, site_conf),
        cost_finding(ctx, bal, q, site_conf),
        daily_finding(ctx, bal, site_conf),
        period_finding(ctx, bal, "week", site_conf),
        period_finding(ctx, bal, "month", site_conf),
        week_over_week_finding(ctx, bal),
        anomaly_finding(ctx, bal, site_conf),
        hourly_finding(ctx, bal, q, site_conf),
        weekparts_finding(ctx, bal, q, site_conf),
        baseload_finding(ctx, bal, q, site_conf),
        peak_finding(ctx, bal, q, site_conf),
        top_consumers_finding(
            ctx, bal, min(site_conf, device_conf) if bal.from_grid else device_conf
        ),
    ]


def analyse_energy(ctx: AnalysisContext) -> AnalysisResult:
    if not ctx.has_data:
        return no_data_result(ctx, "energy", "data")
    inputs = collect_inputs(ctx)
    if not inputs:
        return no_data_result(ctx, "energy", "energy meter or power sensor data")
    bal = balance(inputs)
    site_ids = {i.entity_id for i in bal.site}
    devices = [i for i in inputs if i.entity_id not in site_ids]
    candidates = [
        *_site_findings(ctx, bal),
        solar_finding(ctx, bal, confidence(_mean_coverage(bal.production) or 0.0)),
        by_entity_finding(
            ctx, inputs, confidence(_mean_coverage(inputs) or 0.0), entity_periods(ctx, inputs)
        ),
    ]
    return AnalysisResult(
        analyst="energy",
        findings=[f for f in candidates if f is not None],
        confidence=confidence(overall_coverage(bal.site, devices)),
        notes=_notes(ctx, inputs),
    )
