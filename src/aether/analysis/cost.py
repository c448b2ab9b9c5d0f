"""What the grid energy cost under the household's tariff (`AnalysisParams.tariff`).

Grid import is priced per 15-minute interval at the price of the interval's local start time and
weekday, so time-of-use bands and DST changes are honoured exactly; an interval between meter
readings that spans several quarter hours has its energy spread over them evenly. Self-consumed
solar costs nothing; without a grid meter, the metered consumption is priced instead.
"""

from __future__ import annotations

import numpy as np

from aether.analysis.common import evidence, make_finding
from aether.analysis.context import AnalysisContext
from aether.analysis.demand import Quarters
from aether.analysis.energy_inputs import Balance
from aether.analysis.findings import Evidence, Finding, Metric
from aether.analysis.periods import NS_PER_H, local_index
from aether.analysis.tariff import QUARTERS_PER_DAY, Tariff
from aether.analysis.text import kwh, money, percent, price
from aether.analysis.units import FloatArray


def quarter_prices(ctx: AnalysisContext, q: Quarters, tariff: Tariff) -> FloatArray:
    """The price of each quarter-hour bucket, from its local weekday and time of day."""
    local = local_index(q.edges[:-1], ctx.timezone)
    slot = (
        np.asarray(local.day_of_week, dtype=np.int64) * QUARTERS_PER_DAY
        + np.asarray(local.hour, dtype=np.int64) * 4
        + np.asarray(local.minute, dtype=np.int64) // 15
    )
    return np.asarray(tariff.price_grid().ravel()[slot], dtype=np.float64)


def _bands(
    ctx: AnalysisContext, energy: FloatArray, prices: FloatArray, cur: str
) -> list[Evidence]:
    rows = []
    for level in np.unique(prices):
        at = prices == level
        used = float(energy[at].sum())
        rows.append(
            evidence(
                f"{kwh(used)} at {price(float(level), cur)}",
                None,
                ctx.start_ns,
                ctx.end_ns,
                price=float(level),
                kwh=round(used, 3),
                cost=round(used * float(level), 4),
                quarter_hours=int(at.sum()),
            )
        )
    return rows


def cost_finding(ctx: AnalysisContext, bal: Balance, q: Quarters, conf: float) -> Finding | None:
    tariff = ctx.params.tariff
    if tariff is None or not bal.site:
        return None
    energy = q.site.energy_kwh
    prices = quarter_prices(ctx, q, tariff)
    used, total = float(energy.sum()), float((energy * prices).sum())
    days = ctx.duration_ns / NS_PER_H / 24.0
    cur = tariff.currency
    what = "grid import" if bal.from_grid else "metered consumption"
    average = total / used if used > 0 else float(prices.mean())
    summary = f"your {what} of {kwh(used)} in {ctx.phrase} cost {money(total, cur)}"
    metrics = [
        Metric(name="cost", value=round(total, 2), unit=cur),
        Metric(name="priced_energy", value=round(used, 3), unit="kWh"),
        Metric(name="average_price", value=round(average, 4), unit=f"{cur}/kWh"),
        Metric(name="cost_per_day", value=round(total / days, 2), unit=f"{cur}/day"),
    ]
    if tariff.flat:
        summary += f" at {price(average, cur)} ({money(total / days, cur)} per day)."
    else:
        cheapest = float(prices.min())
        share = 100.0 * float(energy[prices == cheapest].sum()) / used if used > 0 else 0.0
        summary += (
            f" under your time-of-use tariff, {price(average, cur)} on average; "
            f"{percent(share)} of it was used at the cheapest rate ({price(cheapest, cur)})."
        )
        metrics.append(Metric(name="cheapest_rate_share", value=round(share, 1), unit="%"))
    return make_finding(
        ctx,
        "energy",
        "energy_cost",
        "Energy cost",
        summary,
        conf,
        metrics=metrics,
        entities=[i.entity_id for i in bal.site],
        evidence=[
            evidence(f"tariff {tariff.describe()}", None, ctx.start_ns, ctx.end_ns),
            *_bands(ctx, energy, prices, cur),
        ],
        importance=0.8,
    )
