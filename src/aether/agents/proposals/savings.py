"""What an automation is expected to save, from the findings alone, with its assumptions.

Only what the data supports becomes a number: hours a device is no longer left on come from the
behavioral analyst's nights; energy needs the device's power while on, which Aether knows only
when a power or energy sensor belongs to the same device (`switch.tv` and `sensor.tv_power`):
its energy in the window divided by the switch's on-time. Money needs a tariff.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from aether.analysis.findings import Finding
from aether.analysis.tariff import QUARTERS_PER_DAY, Tariff

DAYS_PER_YEAR: Final = 365.0
MIN_CHEAP_QUARTERS: Final = 4
"""A cheap window shorter than an hour is not worth moving a load into."""
_SUFFIX: Final = re.compile(r"_(power|energy|consumption|kwh|w)$")


@dataclass(frozen=True)
class CheapWindow:
    """The daily run of quarter hours that is cheapest on every day of the week."""

    start_minute: int
    end_minute: int
    price: float


def device_of(entity_id: str) -> str:
    """`ev_charger` for `switch.ev_charger` and `sensor.ev_charger_power` alike."""
    return _SUFFIX.sub("", entity_id.split(".", 1)[-1])


def metric_value(findings: Sequence[Finding], name: str, entity_id: str | None) -> float | None:
    """The first metric called `name` of `entity_id` in any finding."""
    for finding in findings:
        for metric in finding.metrics:
            if metric.name == name and metric.entity_id == entity_id:
                return metric.value
    return None


def device_power_w(
    switch: str, findings: Sequence[Finding], names: Mapping[str, str]
) -> float | None:
    """Average power of the device behind `switch` while it is on, or None if unknown."""
    on_hours = metric_value(findings, "on_time", switch)
    if not on_hours or on_hours <= 0:
        return None
    device = device_of(switch)
    for entity_id in names:
        if entity_id == switch or device_of(entity_id) != device:
            continue
        energy = metric_value(findings, "energy", entity_id)
        if energy is not None and energy > 0:
            return energy * 1000.0 / on_hours
    return None


def average_price(tariff: Tariff, start_minute: int, end_minute: int) -> float:
    """Mean price of the quarter hours from `start_minute` to `end_minute` (across midnight if
    the end comes first), over every day of the week."""
    grid = tariff.price_grid()
    first, last = start_minute // 15, end_minute // 15
    quarters = np.arange(QUARTERS_PER_DAY)
    inside = (
        (quarters >= first) & (quarters < last)
        if first < last
        else ~((quarters >= last) & (quarters < first))
    )
    return float(grid[:, inside].mean())


def cheapest_window(tariff: Tariff) -> CheapWindow | None:
    """The longest daily run of quarter hours at the lowest price that holds on every weekday,
    or None when a flat tariff (or a too short window) makes moving a load pointless."""
    worst = tariff.price_grid().max(axis=0)
    low = float(worst.min())
    cheap = worst <= low + 1e-9
    if cheap.all() or low >= float(tariff.price_grid().mean()) - 1e-9:
        return None
    doubled = np.concatenate((cheap, cheap))
    best_start, best_length, start, length = 0, 0, 0, 0
    for index, is_cheap in enumerate(doubled):
        if is_cheap:
            start, length = (index, 1) if length == 0 else (start, length + 1)
            if length > best_length and length <= QUARTERS_PER_DAY:
                best_start, best_length = start, length
        else:
            length = 0
    if best_length < MIN_CHEAP_QUARTERS:
        return None
    first = best_start % QUARTERS_PER_DAY
    return CheapWindow(first * 15, ((first + best_length) * 15) % 1440, low)


def window_days(finding: Finding) -> float | None:
    if finding.period_start is None or finding.period_end is None:
        return None
    days = (finding.period_end - finding.period_start).total_seconds() / 86400.0
    return days if days > 0 else None


def money(value: float, currency: str) -> str:
    return f"{value:,.2f} {currency}"
