"""Site demand in 15-minute averages: baseload (the always-on floor) and peak demand.

Baseload is the 10th percentile of the 15-minute average site power over the quarter hours with
no solar production (solar below 10 W), so that self-consumed solar, which hides load from the
grid meter, cannot pull it down; without a solar sensor every quarter hour counts. Only quarter
hours fully covered by readings within the gap tolerance are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from aether.analysis.common import evidence, make_finding
from aether.analysis.context import AnalysisContext
from aether.analysis.curves import BoolArray, Buckets, sum_buckets
from aether.analysis.energy_inputs import Balance
from aether.analysis.findings import Finding, Metric
from aether.analysis.periods import NS_PER_H, QUARTER_NS, IntArray, to_datetime
from aether.analysis.text import kilowatts, kwh, percent, span, watts
from aether.analysis.units import FloatArray

BASELOAD_PERCENTILE: Final = 10.0
NIGHT_SOLAR_W: Final = 10.0
MIN_QUARTERS: Final = 8


@dataclass(frozen=True)
class Quarters:
    edges: IntArray
    site: Buckets
    full: BoolArray
    """Quarter hours of full length, fully covered."""
    dark: BoolArray
    """Quarter hours without solar production (all of them when there is no solar sensor)."""

    @property
    def avg_w(self) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.full, self.site.covered_kwh / self.site.covered_h * 1000.0, np.nan)


def quarters(ctx: AnalysisContext, bal: Balance) -> Quarters:
    edges = _quarter_edges(ctx)
    size = len(edges) - 1
    site = sum_buckets([i.curve.buckets(edges) for i in bal.site], size)
    length_h = np.diff(edges).astype(np.float64) / NS_PER_H
    full = (np.diff(edges) == QUARTER_NS) & (site.covered_h >= 0.999 * length_h)
    dark = np.ones(size, dtype=bool)
    if bal.production:
        solar = sum_buckets([i.curve.buckets(edges) for i in bal.production], size)
        with np.errstate(divide="ignore", invalid="ignore"):
            solar_w = solar.covered_kwh / solar.covered_h * 1000.0
        dark = (solar.covered_h >= 0.999 * length_h) & (solar_w < NIGHT_SOLAR_W)
        if np.count_nonzero(dark & full) < MIN_QUARTERS:
            dark = np.ones(size, dtype=bool)
    return Quarters(edges=edges, site=site, full=full, dark=dark)


def _quarter_edges(ctx: AnalysisContext) -> IntArray:
    first = -(-ctx.start_ns // QUARTER_NS) * QUARTER_NS
    inner = np.arange(first, ctx.end_ns, QUARTER_NS, dtype=np.int64)
    return np.unique(np.concatenate(([ctx.start_ns], inner, [ctx.end_ns]))).astype(np.int64)


def _site_words(bal: Balance) -> str:
    return "grid power" if bal.from_grid else "power of the metered devices"


def baseload_finding(
    ctx: AnalysisContext, bal: Balance, q: Quarters, conf: float
) -> Finding | None:
    usable = q.full & q.dark
    if np.count_nonzero(usable) < MIN_QUARTERS:
        return None
    base_w = float(np.percentile(q.avg_w[usable], BASELOAD_PERCENTILE))
    base_kwh = base_w * (ctx.observed_ns / NS_PER_H) / 1000.0
    total = bal.household_kwh if bal.from_grid else bal.site_kwh
    share = 100.0 * base_kwh / total if total > 0 else 0.0
    dark = "night-time " if bal.production and not q.dark.all() else ""
    summary = (
        f"your always-on baseload in {ctx.phrase} was about {watts(base_w)} (10th percentile of "
        f"the {dark}15-minute average {_site_words(bal)}), about {kwh(base_kwh)} over the period "
        f"or {percent(share)} of your consumption."
    )
    return make_finding(
        ctx,
        "energy",
        "baseload",
        "Always-on baseload",
        summary,
        conf,
        metrics=[
            Metric(name="baseload", value=round(base_w, 1), unit="W"),
            Metric(name="baseload_energy", value=round(base_kwh, 3), unit="kWh"),
            Metric(name="baseload_share", value=round(share, 1), unit="%"),
        ],
        entities=[i.entity_id for i in bal.site],
        evidence=[
            evidence(
                f"10th percentile of {np.count_nonzero(usable)} quarter hours",
                None,
                ctx.start_ns,
                ctx.end_ns,
                quarter_hours=int(np.count_nonzero(usable)),
                percentile=BASELOAD_PERCENTILE,
                night_only=bool(dark),
            )
        ],
        importance=0.7,
    )


def peak_finding(ctx: AnalysisContext, bal: Balance, q: Quarters, conf: float) -> Finding | None:
    if not q.full.any():
        return None
    power = np.where(q.full, q.avg_w, -np.inf)
    top = int(np.argmax(power))
    peak_kw = float(power[top]) / 1000.0
    start, end = int(q.edges[top]), int(q.edges[top + 1])
    summary = (
        f"peak demand in {ctx.phrase} was {kilowatts(peak_kw)} (15-minute average "
        f"{_site_words(bal)}), on {span(start, end, ctx.timezone)}."
    )
    return make_finding(
        ctx,
        "energy",
        "peak_demand",
        "Peak demand",
        summary,
        conf,
        metrics=[
            Metric(name="peak_demand", value=round(peak_kw, 3), unit="kW", at=to_datetime(start))
        ],
        entities=[i.entity_id for i in bal.site],
        evidence=[evidence("highest 15-minute average", None, start, end, kw=round(peak_kw, 3))],
        importance=0.6,
    )
