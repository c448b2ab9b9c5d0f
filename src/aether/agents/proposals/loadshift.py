"""A heavy load moved into the cheapest hours of a time-of-use tariff.

A `top_consumers` finding names the household's biggest metered loads; one whose device also has
a switch (`sensor.ev_charger_power` and `switch.ev_charger`) is switched on when the daily window
that is cheapest on every weekday starts, and off when it ends (one automation, `choose` on the
trigger ids). The saving is money, not energy: the load's yearly energy at the cheap price
instead of the average price it pays now (the `energy_cost` finding's, else the tariff's).
"""

from __future__ import annotations

from collections.abc import Iterator

from aether.agents.proposals.automation import (
    SWITCHABLE_DOMAINS,
    automation_config,
    automation_id,
    choose_action,
    switch_action,
    time_trigger,
    trigger_condition,
)
from aether.agents.proposals.model import ProposalDraft, ProposalKind, Saving
from aether.agents.proposals.savings import (
    DAYS_PER_YEAR,
    cheapest_window,
    device_of,
    metric_value,
    money,
    window_days,
)
from aether.agents.proposals.shared import (
    DraftingInputs,
    IdFactory,
    description,
    hhmm,
    justification,
    known_entities,
)
from aether.agents.proposals.validation import referenced_entities
from aether.analysis.findings import Finding


def load_shift_drafts(
    finding: Finding, inputs: DraftingInputs, new_id: IdFactory
) -> Iterator[ProposalDraft]:
    tariff = inputs.tariff
    window = cheapest_window(tariff) if tariff is not None else None
    days = window_days(finding)
    if tariff is None or window is None or days is None:
        return
    paid = metric_value(inputs.findings, "average_price", None) or float(tariff.price_grid().mean())
    for metric in finding.metrics:
        if metric.name != "energy" or metric.entity_id is None or metric.value <= 0:
            continue
        switch = _switch_of(metric.entity_id, known_entities(inputs.findings, inputs.names))
        if switch is None or paid <= window.price:
            continue
        kwh_per_year = metric.value * DAYS_PER_YEAR / days
        cost = round(kwh_per_year * (paid - window.price), 2)
        name = inputs.names.get(metric.entity_id, metric.entity_id)
        start, end = hhmm(window.start_minute), hhmm(window.end_minute)
        title = f"{name} only in the cheapest hours ({start}–{end})"
        proposal_id = new_id()
        why = (
            f"{name} used {metric.value:,.1f} kWh in {days:.0f} days, one of your biggest "
            f"consumers, and your tariff is cheapest from {start} to {end}"
        )
        config = automation_config(
            automation_id(switch, "cheap_hours"),
            f"Aether: {title}",
            description(proposal_id, why),
            triggers=[
                time_trigger(window.start_minute, "cheap_start"),
                time_trigger(window.end_minute, "cheap_end"),
            ],
            conditions=[],
            actions=[
                choose_action(
                    [
                        (trigger_condition("cheap_start"), switch_action(switch, on=True)),
                        (trigger_condition("cheap_end"), switch_action(switch, on=False)),
                    ]
                )
            ],
        )
        yield ProposalDraft(
            id=proposal_id,
            kind=ProposalKind.LOAD_SHIFT,
            title=title,
            entities=referenced_entities(config),
            automation=config,
            justification=justification(
                finding,
                why,
                finding.confidence,
                {
                    "energy_kwh": round(metric.value, 3),
                    "window_days": round(days, 1),
                    "cheap_price": window.price,
                    "average_price_paid": round(paid, 4),
                },
            ),
            saving=Saving(
                energy_kwh_per_year=0.0,
                cost_per_year=cost,
                currency=tariff.currency,
                summary=f"About {money(cost, tariff.currency)} a year: the same "
                f"{kwh_per_year:,.0f} kWh at {window.price:g} instead of {paid:.3f} "
                f"{tariff.currency}/kWh (it saves money, not energy).",
                assumptions=[
                    f"All of {name}'s energy can wait for {start}–{end} (an EV or a water "
                    "heater can; a heat pump on a cold day cannot).",
                    f"It now pays your average price of {paid:.3f} {tariff.currency}/kWh.",
                    f"Its use over a year is like these {days:.0f} days.",
                    f"{switch} really switches {name} (it only draws power when switched on).",
                ],
            ),
            confidence=finding.confidence,
        )


def _switch_of(entity_id: str, known: set[str]) -> str | None:
    """The switchable entity of the same device as a meter, if the household has one."""
    device = device_of(entity_id)
    for candidate in sorted(known):
        domain = candidate.split(".", 1)[0]
        if domain in SWITCHABLE_DOMAINS and device_of(candidate) == device:
            return candidate
    return None
