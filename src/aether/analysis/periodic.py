"""Consumption per local week and calendar month, per entity and in total, and the change from
one full week to the next.

Weeks run Monday 00:00 to Monday 00:00 local time and months from the 1st, so their totals match
the household's calendar across DST changes (a week with a DST change is 167 h or 169 h long).
Week-over-week compares the last two weeks that lie wholly inside the observed window; the
devices whose consumption changed most are named, so the change has an explanation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from aether.analysis.common import confidence, evidence, make_finding
from aether.analysis.context import AnalysisContext
from aether.analysis.curves import Buckets, sum_buckets
from aether.analysis.energy_inputs import Balance, EnergyInput
from aether.analysis.findings import Finding, Metric
from aether.analysis.periods import NS_PER_H, Periods, local_periods, to_datetime
from aether.analysis.text import day, kwh, signed_percent
from aether.analysis.units import FloatArray

DAILY_DETAIL_DAYS: Final = 92
"""Per-entity daily totals go into the evidence for windows up to this long (a quarter)."""
TOP_CHANGES: Final = 3
_PREFIX: Final = {"day": "", "week": "week_of_", "month": "month_"}


@dataclass(frozen=True)
class PeriodTotals:
    periods: Periods
    site: Buckets

    def observed(self, ctx: AnalysisContext) -> np.ndarray:
        """Complete periods that end before the data does."""
        return self.periods.complete & (self.periods.edges[1:] <= ctx.horizon_ns)


def period_totals(ctx: AnalysisContext, bal: Balance, period: str) -> PeriodTotals:
    periods = local_periods(ctx.start_ns, ctx.end_ns, ctx.timezone, period)
    parts = [i.curve.buckets(periods.edges) for i in bal.site]
    return PeriodTotals(periods, sum_buckets(parts, len(periods.labels)))


def period_name(label: object, period: str) -> str:
    text = str(label)
    return _PREFIX[period] + (text[:7] if period == "month" else text)


def entity_periods(ctx: AnalysisContext, inputs: list[EnergyInput]) -> dict[str, dict[str, object]]:
    """Per entity, kWh per local week and month (and day, for windows up to a quarter)."""
    wanted = ["week", "month"]
    if ctx.duration_ns <= DAILY_DETAIL_DAYS * 24 * NS_PER_H:
        wanted.insert(0, "day")
    found: dict[str, dict[str, object]] = {i.entity_id: {} for i in inputs}
    for period in wanted:
        p = local_periods(ctx.start_ns, ctx.end_ns, ctx.timezone, period)
        for inp in inputs:
            energy = inp.curve.buckets(p.edges).energy_kwh
            found[inp.entity_id][f"{period}s"] = {
                period_name(label, period): round(float(v), 3)
                for label, v in zip(p.labels, energy, strict=True)
            }
    return found


def period_finding(ctx: AnalysisContext, bal: Balance, period: str, conf: float) -> Finding | None:
    """Site consumption per week or month; only when the window touches two or more."""
    totals = period_totals(ctx, bal, period)
    labels = totals.periods.labels
    if len(labels) < 2:
        return None
    energy = totals.site.energy_kwh
    complete = totals.observed(ctx)
    ranked = [k for k in range(len(labels)) if complete[k]] or list(range(len(labels)))
    high = max(ranked, key=lambda k: energy[k])
    low = min(ranked, key=lambda k: energy[k])
    noun = "week" if period == "week" else "month"
    what = "grid import" if bal.from_grid else "metered consumption"
    summary = (
        f"{what} per {noun} in {ctx.phrase}: highest {kwh(float(energy[high]))} "
        f"({_label(labels[high], period)}), lowest {kwh(float(energy[low]))} "
        f"({_label(labels[low], period)})"
        + ("" if complete.all() else f"; {int((~complete).sum())} {noun}(s) only partly covered")
        + "."
    )
    metrics = [
        Metric(
            name=period_name(label, period),
            value=round(float(v), 3),
            unit="kWh",
            at=to_datetime(int(totals.periods.edges[k])),
        )
        for k, (label, v) in enumerate(zip(labels, energy, strict=True))
    ]
    rows = [
        {
            "start": str(label),
            "kwh": round(float(v), 3),
            "hours": round(float(h), 2),
            "complete": bool(c),
        }
        for label, v, h, c in zip(labels, energy, totals.periods.hours(), complete, strict=True)
    ]
    return make_finding(
        ctx,
        "energy",
        f"{noun}ly_consumption",
        f"{noun.capitalize()}ly consumption",
        summary,
        conf,
        metrics=metrics,
        entities=[i.entity_id for i in bal.site],
        evidence=[evidence(f"local {noun}s", None, ctx.start_ns, ctx.end_ns, periods=rows)],
        importance=0.45,
    )


def _label(label: object, period: str) -> str:
    if period == "month":
        return f"{label:%B %Y}"
    return f"week of {day(label)}"  # type: ignore[arg-type]


def _changes(bal: Balance, edges: np.ndarray) -> list[tuple[str, float]]:
    """Devices by how much their consumption changed between the two weeks."""
    deltas = []
    for inp in bal.consumers:
        before, after = inp.curve.buckets(edges).energy_kwh
        deltas.append((inp.entity_id, float(after - before)))
    deltas = [d for d in deltas if abs(d[1]) >= 0.05]
    return sorted(deltas, key=lambda d: abs(d[1]), reverse=True)[:TOP_CHANGES]


def week_over_week_finding(ctx: AnalysisContext, bal: Balance) -> Finding | None:
    totals = period_totals(ctx, bal, "week")
    full = np.flatnonzero(totals.observed(ctx))
    if len(full) < 2 or full[-1] - full[-2] != 1:
        return None
    a, b = int(full[-2]), int(full[-1])
    edges = totals.periods.edges[[a, b, b + 1]]
    before, after = (float(x) for x in totals.site.energy_kwh[[a, b]])
    covered: FloatArray = totals.site.covered_h[[a, b]] / totals.periods.hours()[[a, b]]
    change = 100.0 * (after - before) / before if before > 0 else 0.0
    labels = totals.periods.labels
    summary = (
        f"in the week of {day(labels[b])} you used {kwh(after)}, {signed_percent(change)} "
        f"({kwh(after - before)}) compared with the week before ({kwh(before)})"
    )
    movers = _changes(bal, edges)
    names = {i.entity_id: i.meta.friendly_name for i in bal.consumers}
    if movers:
        summary += "; the biggest changes: " + ", ".join(
            f"{names[e]} {'+' if d > 0 else '−'}{kwh(abs(d))}" for e, d in movers
        )
    metrics = [
        Metric(name="last_full_week", value=round(after, 3), unit="kWh"),
        Metric(name="previous_week", value=round(before, 3), unit="kWh"),
        Metric(name="relative_change", value=round(change, 1), unit="%"),
        Metric(name="absolute_change", value=round(after - before, 3), unit="kWh"),
    ]
    metrics += [
        Metric(name="energy", value=round(d, 3), unit="kWh", entity_id=e) for e, d in movers
    ]
    return make_finding(
        ctx,
        "energy",
        "week_over_week",
        "Week-over-week change",
        summary + ".",
        confidence(float(min(covered.min(), 1.0))),
        metrics=metrics,
        entities=[i.entity_id for i in bal.site] + [e for e, _ in movers],
        evidence=[
            evidence("previous week", None, int(edges[0]), int(edges[1]), kwh=round(before, 3)),
            evidence("last full week", None, int(edges[1]), int(edges[2]), kwh=round(after, 3)),
        ],
        importance=0.6,
    )
