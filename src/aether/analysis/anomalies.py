"""Days whose consumption stands out: a robust z-score on the daily totals.

z = 0.6745 · (day − median) / MAD, with MAD the median absolute deviation of the daily totals
(Iglewicz and Hoaglin's modified z-score). A day is anomalous when |z| > 3.5. The median and MAD
are not pulled by the outliers they are meant to find, unlike the mean and standard deviation.
When more than half of the days are identical (MAD = 0), the mean absolute deviation scaled by
1.2533 takes its place. Only full local days measured within the gap tolerance for at least 90 %
of their hours count, and at least 7 of them are needed: a gap must not look like a quiet day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np

from aether.analysis.common import evidence, make_finding
from aether.analysis.context import AnalysisContext
from aether.analysis.energy_inputs import Balance
from aether.analysis.findings import Evidence, Finding, Metric
from aether.analysis.periodic import period_totals
from aether.analysis.periods import to_datetime
from aether.analysis.text import day, kwh
from aether.analysis.units import FloatArray

Z_THRESHOLD: Final = 3.5
MIN_DAYS: Final = 7
MIN_COVERED: Final = 0.9
MAD_SCALE: Final = 0.6745
MEAN_AD_SCALE: Final = 1.253314
MAX_LISTED: Final = 10


def robust_z(values: FloatArray) -> FloatArray:
    """Modified z-scores; zeros when all values are equal."""
    median = float(np.median(values))
    deviation = np.abs(values - median)
    mad = float(np.median(deviation))
    if mad > 0:
        return np.asarray(MAD_SCALE * (values - median) / mad, dtype=np.float64)
    mean_ad = float(np.mean(deviation))
    if mean_ad > 0:
        return np.asarray((values - median) / (MEAN_AD_SCALE * mean_ad), dtype=np.float64)
    return np.zeros(len(values), dtype=np.float64)


@dataclass(frozen=True)
class OddDay:
    day: date
    start_ns: int
    end_ns: int
    kwh: float
    z: float

    @property
    def direction(self) -> str:
        return "high" if self.z > 0 else "low"


def _summary(ctx: AnalysisContext, odd: list[OddDay], days: int, median: float) -> str:
    if not odd:
        return (
            f"no day in {ctx.phrase} stood out: all {days} fully measured days were within "
            f"a robust z-score of {Z_THRESHOLD} of your typical day ({kwh(median)})."
        )
    listed = ", ".join(f"{day(d.day)} {kwh(d.kwh)} ({d.direction}, z = {d.z:.1f})" for d in odd)
    return (
        f"in {ctx.phrase} {len(odd)} of {days} fully measured days stood out from "
        f"your typical day of {kwh(median)}: {listed}."
    )


def _evidence(ctx: AnalysisContext, odd: list[OddDay], days: int, median: float) -> list[Evidence]:
    proof = [
        evidence(
            f"{d.direction} day",
            None,
            d.start_ns,
            d.end_ns,
            kwh=round(d.kwh, 3),
            robust_z=round(d.z, 2),
        )
        for d in odd
    ]
    method = "modified z-score 0.6745·(x − median)/MAD over fully measured local days"
    return [
        *proof,
        evidence(
            method,
            None,
            ctx.start_ns,
            ctx.end_ns,
            threshold=Z_THRESHOLD,
            days=days,
            median_kwh=round(median, 3),
        ),
    ]


def anomaly_finding(ctx: AnalysisContext, bal: Balance, conf: float) -> Finding | None:
    totals = period_totals(ctx, bal, "day")
    usable = totals.observed(ctx) & (totals.site.covered_h >= MIN_COVERED * totals.periods.hours())
    rows = np.flatnonzero(usable)
    if len(rows) < MIN_DAYS:
        return None
    energy = totals.site.energy_kwh[rows]
    z = robust_z(energy)
    median = float(np.median(energy))
    labels, edges = totals.periods.labels, totals.periods.edges
    picked = [int(k) for k in np.argsort(-np.abs(z), kind="stable") if abs(z[k]) > Z_THRESHOLD]
    odd = [
        OddDay(labels[r], int(edges[r]), int(edges[r + 1]), float(energy[k]), float(z[k]))
        for k in sorted(picked[:MAX_LISTED])
        for r in [int(rows[k])]
    ]
    metrics = [
        Metric(
            name=d.day.isoformat(), value=round(d.kwh, 3), unit="kWh", at=to_datetime(d.start_ns)
        )
        for d in odd
    ]
    metrics += [
        Metric(name="anomalous_days", value=len(picked), unit="count"),
        Metric(name="observed_days", value=len(rows), unit="count"),
        Metric(name="median_day", value=round(median, 3), unit="kWh"),
    ]
    return make_finding(
        ctx,
        "energy",
        "anomalous_days",
        "Unusual days",
        _summary(ctx, odd, len(rows), median),
        conf,
        metrics=metrics,
        entities=[i.entity_id for i in bal.site],
        evidence=_evidence(ctx, odd, len(rows), median),
        importance=0.65 if odd else 0.3,
    )
