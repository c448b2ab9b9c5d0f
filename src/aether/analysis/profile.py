"""When energy is used: totals per local day and the average profile over the hours of the day.

Days run from local midnight to local midnight (23 h and 25 h on DST days). The hourly profile
averages each local hour of the day over the hours actually covered by readings: the energy of
covered intervals in that hour divided by the covered time, so gaps do not read as zero use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from aether.analysis.common import evidence, make_finding
from aether.analysis.context import AnalysisContext
from aether.analysis.curves import sum_buckets
from aether.analysis.demand import Quarters
from aether.analysis.energy_inputs import Balance
from aether.analysis.findings import Finding, Metric
from aether.analysis.periods import NS_PER_H, local_day_edges, local_index, to_datetime
from aether.analysis.text import day, kwh
from aether.analysis.units import FloatArray

FULL_DAY_H = 23.0
"""A day with at least this many hours in the window is a full day (23 h on spring DST days)."""


@dataclass(frozen=True)
class DayTotal:
    day: date
    start_ns: int
    kwh: float
    hours: float
    """Length of the day inside the window."""
    covered_h: float

    def as_dict(self) -> dict[str, object]:
        return {
            "date": self.day.isoformat(),
            "kwh": round(self.kwh, 3),
            "hours": self.hours,
            "covered_h": round(self.covered_h, 2),
        }


def daily_totals(ctx: AnalysisContext, bal: Balance) -> list[DayTotal]:
    edges, labels = local_day_edges(ctx.start_ns, ctx.end_ns, ctx.timezone)
    site = sum_buckets([i.curve.buckets(edges) for i in bal.site], len(labels))
    lengths = np.diff(edges) / NS_PER_H
    return [
        DayTotal(
            label,
            int(edges[k]),
            float(site.energy_kwh[k]),
            float(lengths[k]),
            float(site.covered_h[k]),
        )
        for k, label in enumerate(labels)
    ]


def hourly_profile(ctx: AnalysisContext, q: Quarters) -> FloatArray:
    """Average kWh per local hour of the day (index 0-23); NaN for hours never covered."""
    hour = np.asarray(local_index(q.edges[:-1], ctx.timezone).hour, dtype=np.int64)
    energy = np.bincount(hour, weights=q.site.covered_kwh, minlength=24)
    covered = np.bincount(hour, weights=q.site.covered_h, minlength=24)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(covered > 0, energy / covered, np.nan)


def _what(bal: Balance) -> str:
    return "grid import" if bal.from_grid else "metered consumption"


def _daily_summary(ctx: AnalysisContext, bal: Balance, days: list[DayTotal], mean: float) -> str:
    ranked = [d for d in days if d.hours >= FULL_DAY_H] or days
    high, low = max(ranked, key=lambda d: d.kwh), min(ranked, key=lambda d: d.kwh)
    if len(days) == 1:
        return f"{_what(bal)} on {day(high.day)} was {kwh(high.kwh)}."
    return (
        f"daily {_what(bal)} in {ctx.phrase} ranged from {kwh(low.kwh)} ({day(low.day)}) "
        f"to {kwh(high.kwh)} ({day(high.day)}), {kwh(mean)} per day on average."
    )


def daily_finding(ctx: AnalysisContext, bal: Balance, conf: float) -> Finding | None:
    days = [d for d in daily_totals(ctx, bal) if d.covered_h > 0 or d.kwh > 0]
    if not days:
        return None
    mean = sum(d.kwh for d in days) / (sum(d.hours for d in days) / 24.0)
    metrics = [
        Metric(
            name=d.day.isoformat(), value=round(d.kwh, 3), unit="kWh", at=to_datetime(d.start_ns)
        )
        for d in days
    ]
    return make_finding(
        ctx,
        "energy",
        "daily_consumption",
        "Daily consumption",
        _daily_summary(ctx, bal, days, mean),
        conf,
        metrics=[*metrics, Metric(name="average_per_day", value=round(mean, 3), unit="kWh/day")],
        entities=[i.entity_id for i in bal.site],
        evidence=[
            evidence(
                "local days (midnight to midnight)",
                None,
                ctx.start_ns,
                ctx.end_ns,
                days=[d.as_dict() for d in days],
            )
        ],
        importance=0.5,
    )


def _hour_span(hour: int) -> str:
    return f"{hour:02d}:00–{(hour + 1) % 24:02d}:00"


def hourly_finding(ctx: AnalysisContext, bal: Balance, q: Quarters, conf: float) -> Finding | None:
    profile = hourly_profile(ctx, q)
    if np.isnan(profile).all():
        return None
    top, low = int(np.nanargmax(profile)), int(np.nanargmin(profile))
    summary = (
        f"in {ctx.phrase} your {_what(bal)} was highest at {_hour_span(top)} "
        f"({kwh(float(profile[top]))} per hour on average) and lowest at {_hour_span(low)} "
        f"({kwh(float(profile[low]))})."
    )
    metrics = [
        Metric(name=f"hour_{h:02d}", value=round(float(v), 4), unit="kWh")
        for h, v in enumerate(profile)
        if not np.isnan(v)
    ]
    return make_finding(
        ctx,
        "energy",
        "hourly_profile",
        "Hourly profile",
        summary,
        conf,
        metrics=metrics,
        entities=[i.entity_id for i in bal.site],
        evidence=[evidence("average kWh per local hour of day", None, ctx.start_ns, ctx.end_ns)],
        importance=0.4,
    )
