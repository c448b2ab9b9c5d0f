"""Weekdays against weekends: the average day of each, and their hourly load profiles.

Averages are over full local days measured within the gap tolerance for at least 90 % of their
hours (as for anomalies), so a gap does not make a weekend look frugal. Each hourly profile is the
energy of covered intervals in that local hour divided by the covered time, as in the overall
hourly profile.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from aether.analysis.anomalies import MIN_COVERED
from aether.analysis.common import evidence, make_finding
from aether.analysis.context import AnalysisContext
from aether.analysis.demand import Quarters
from aether.analysis.energy_inputs import Balance
from aether.analysis.findings import Finding, Metric
from aether.analysis.periodic import period_totals
from aether.analysis.periods import local_index
from aether.analysis.text import kwh, signed_percent
from aether.analysis.units import FloatArray

MIN_EACH: Final = 2
"""Days of each kind needed for a comparison."""


def split_profile(ctx: AnalysisContext, q: Quarters) -> tuple[FloatArray, FloatArray]:
    """Average kWh per local hour of the day, on weekdays and on weekends (NaN: never covered)."""
    local = local_index(q.edges[:-1], ctx.timezone)
    hour = np.asarray(local.hour, dtype=np.int64)
    weekend = np.asarray(local.day_of_week, dtype=np.int64) >= 5
    profiles = []
    for part in (~weekend, weekend):
        energy = np.bincount(hour[part], weights=q.site.covered_kwh[part], minlength=24)
        covered = np.bincount(hour[part], weights=q.site.covered_h[part], minlength=24)
        with np.errstate(divide="ignore", invalid="ignore"):
            profiles.append(np.where(covered > 0, energy / covered, np.nan))
    return profiles[0], profiles[1]


def _rounded(profile: FloatArray) -> list[float | None]:
    return [None if np.isnan(v) else round(float(v), 4) for v in profile]


def weekparts_finding(
    ctx: AnalysisContext, bal: Balance, q: Quarters, conf: float
) -> Finding | None:
    totals = period_totals(ctx, bal, "day")
    hours = totals.periods.hours()
    usable = totals.observed(ctx) & (totals.site.covered_h >= MIN_COVERED * hours)
    weekend = np.array([d.weekday() >= 5 for d in totals.periods.labels], dtype=bool)
    energy = totals.site.energy_kwh
    if min(np.count_nonzero(usable & ~weekend), np.count_nonzero(usable & weekend)) < MIN_EACH:
        return None
    workday = float(energy[usable & ~weekend].mean())
    rest = float(energy[usable & weekend].mean())
    change = 100.0 * (rest - workday) / workday if workday > 0 else 0.0
    summary = (
        f"on an average weekend day in {ctx.phrase} you used {kwh(rest)}, "
        f"{signed_percent(change)} against an average weekday ({kwh(workday)})."
    )
    weekday_profile, weekend_profile = split_profile(ctx, q)
    return make_finding(
        ctx,
        "energy",
        "weekday_weekend_profile",
        "Weekday and weekend profile",
        summary,
        conf,
        metrics=[
            Metric(name="weekday_average", value=round(workday, 3), unit="kWh/day"),
            Metric(name="weekend_average", value=round(rest, 3), unit="kWh/day"),
            Metric(name="weekend_difference", value=round(change, 1), unit="%"),
        ],
        entities=[i.entity_id for i in bal.site],
        evidence=[
            evidence(
                "average kWh per local hour of day, weekdays and weekends",
                None,
                ctx.start_ns,
                ctx.end_ns,
                weekdays=int(np.count_nonzero(usable & ~weekend)),
                weekend_days=int(np.count_nonzero(usable & weekend)),
                weekday_hourly_kwh=_rounded(weekday_profile),
                weekend_hourly_kwh=_rounded(weekend_profile),
            )
        ],
        importance=0.45,
    )
