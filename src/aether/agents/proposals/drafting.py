"""Findings in, proposals out: each finding that supports an action becomes a Home Assistant
automation with its justification and expected saving, checked before it is offered.

- `recurring_action` (behavioral): each routine of at least MIN_CONFIDENCE becomes a time
  trigger at its typical time (rounded to 5 minutes), a weekday condition for weekday or weekend
  routines, and the switch action; an "off" routine only acts when the device is on.
- `left_on_overnight` (behavioral): at 01:00, if the device is still on, switch it off.
- `top_consumers` (energy) with a time-of-use tariff: a metered load whose device has a switch
  (`sensor.ev_charger_power` and `switch.ev_charger`) is switched on when the cheapest daily
  window starts and off when it ends.

`standby_consumption` yields no proposal: standby is measured while the device is off or idle,
so switching it off changes nothing; it needs a smart plug, which is advice, not an automation.
A draft whose automation fails validation (schema or unknown entities) is dropped and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, Final

from aether.agents.proposals.automation import (
    DAY_SETS,
    SWITCHABLE_DOMAINS,
    automation_config,
    automation_id,
    state_condition,
    switch_action,
    time_trigger,
    weekday_condition,
)
from aether.agents.proposals.loadshift import load_shift_drafts
from aether.agents.proposals.model import (
    Figure,
    ProposalDraft,
    ProposalKind,
    Saving,
    new_proposal_id,
)
from aether.agents.proposals.savings import (
    DAYS_PER_YEAR,
    average_price,
    device_power_w,
    metric_value,
    money,
)
from aether.agents.proposals.shared import (
    DraftingInputs,
    IdFactory,
    description,
    justification,
    known_entities,
)
from aether.agents.proposals.validation import (
    ProposalInvalidError,
    check_automation,
    referenced_entities,
)
from aether.analysis.findings import Evidence, Finding

__all__ = ["MAX_PROPOSALS", "MIN_CONFIDENCE", "DraftingInputs", "draft_proposals"]

log = logging.getLogger(__name__)

MIN_CONFIDENCE: Final = 0.4
"""Routines weaker than this are not worth automating: they are as often broken as kept."""
MAX_PROPOSALS: Final = 6
ROUND_MINUTES: Final = 5
NIGHT_OFF_MINUTE: Final = 60
"""01:00: late enough not to cut an evening short, early enough to save most of the night."""
_DAY_PHRASES: Final = {"weekdays": "on weekdays", "weekends": "at weekends"}
_DAYS_PER_WEEK: Final = {"weekdays": 5, "weekends": 2}
_ROUTINE_FIGURES: Final = (
    "time",
    "days",
    "support_days",
    "pattern_days",
    "eligible_days",
    "spread_minutes",
)
_KIND_ORDER: Final = {
    ProposalKind.NIGHT_OFF: 0,
    ProposalKind.LOAD_SHIFT: 1,
    ProposalKind.ROUTINE: 2,
}


def draft_proposals(
    inputs: DraftingInputs, new_id: IdFactory = new_proposal_id
) -> list[ProposalDraft]:
    """The valid proposals the findings support, the most useful first (savings before
    convenience), one per automation id, at most MAX_PROPOSALS."""
    drafts: list[ProposalDraft] = []
    for finding in inputs.findings:
        if finding.kind == "recurring_action":
            drafts += _routine_drafts(finding, inputs, new_id)
        elif finding.kind == "left_on_overnight":
            drafts += _night_off_drafts(finding, inputs, new_id)
        elif finding.kind == "top_consumers":
            drafts += load_shift_drafts(finding, inputs, new_id)
    known = known_entities(inputs.findings, inputs.names)
    valid = [draft for draft in drafts if _valid(draft, known)]
    best: dict[str, ProposalDraft] = {}
    for draft in sorted(valid, key=lambda d: (_KIND_ORDER[d.kind], -d.confidence)):
        best.setdefault(draft.automation_id, draft)
    return list(best.values())[:MAX_PROPOSALS]


def _valid(draft: ProposalDraft, known: set[str]) -> bool:
    try:
        check_automation(draft.automation, known)
    except ProposalInvalidError as exc:
        log.warning("dropped the draft %r: %s", draft.title, exc)
        return False
    return True


# --- routines ---------------------------------------------------------------------------------


def _routine_drafts(
    finding: Finding, inputs: DraftingInputs, new_id: IdFactory
) -> Iterator[ProposalDraft]:
    for proof in finding.evidence:
        data = proof.data
        entity_id, action, when = proof.entity_id, data.get("action"), data.get("time")
        confidence = float(data.get("confidence", finding.confidence))
        if (
            entity_id is None
            or action not in ("on", "off")
            or not isinstance(when, str)
            or confidence < MIN_CONFIDENCE
            or entity_id.split(".", 1)[0] not in SWITCHABLE_DOMAINS
        ):
            continue
        yield _routine_draft(finding, proof, entity_id, action == "on", when, inputs, new_id())


def _routine_draft(
    finding: Finding,
    proof: Evidence,
    entity_id: str,
    on: bool,
    when: str,
    inputs: DraftingInputs,
    proposal_id: str,
) -> ProposalDraft:
    data = proof.data
    name = inputs.names.get(entity_id, entity_id)
    minute = _rounded(_minutes(when))
    days = str(data.get("days", "every day"))
    hhmm = f"{minute // 60:02d}:{minute % 60:02d}"
    verb = "on" if on else "off"
    title = f"{name} {verb} at {hhmm} {_DAY_PHRASES.get(days, 'every day')}"
    conditions = [weekday_condition(DAY_SETS[days])] if days in DAY_SETS else []
    if not on:
        conditions.append(state_condition(entity_id, "on"))
    why = f"{name} was {proof.description}"
    config = automation_config(
        automation_id(entity_id, verb, hhmm.replace(":", ""), days),
        f"Aether: {title}",
        description(proposal_id, why),
        triggers=[time_trigger(minute)],
        conditions=conditions,
        actions=[switch_action(entity_id, on=on)],
    )
    figures: dict[str, Figure] = {
        key: data[key] for key in _ROUTINE_FIGURES if isinstance(data.get(key), int | float | str)
    }
    confidence = float(data.get("confidence", finding.confidence))
    return ProposalDraft(
        id=proposal_id,
        kind=ProposalKind.ROUTINE,
        title=title,
        entities=referenced_entities(config),
        automation=config,
        justification=justification(finding, why, confidence, figures),
        saving=_routine_saving(name, on, hhmm, days, data),
        confidence=confidence,
    )


def _routine_saving(name: str, on: bool, hhmm: str, days: str, data: Mapping[str, Any]) -> Saving:
    pattern, eligible = int(data.get("pattern_days", 0)), int(data.get("eligible_days", 0))
    share = f"{pattern} of {eligible}" if eligible else "most"
    kept = [
        f"You keep switching {name} {'on' if on else 'off'} around {hhmm} "
        f"{_DAY_PHRASES.get(days, 'every day')}, as on {share} of those days so far.",
        "Home Assistant also runs it on the days you would not have: check that suits you.",
    ]
    if on:
        per_week = _DAYS_PER_WEEK.get(days, 7) * (pattern / eligible if eligible else 1.0)
        return Saving(
            summary=f"No energy saving: it switches {name} on when you usually do, so you no "
            f"longer have to (about {per_week:.0f} times a week).",
            assumptions=kept,
        )
    return Saving(
        summary=f"Saves energy on the days {name} would otherwise stay on after {hhmm}; without "
        f"a power sensor for {name} and its later switch-off times Aether cannot put a number "
        "on it.",
        assumptions=kept,
    )


# --- left on overnight ------------------------------------------------------------------------


def _night_off_drafts(
    finding: Finding, inputs: DraftingInputs, new_id: IdFactory
) -> Iterator[ProposalDraft]:
    for entity_id in finding.entities:
        if entity_id.split(".", 1)[0] not in SWITCHABLE_DOMAINS:
            continue
        yield _night_off_draft(finding, entity_id, inputs, new_id())


def _night_off_draft(
    finding: Finding, entity_id: str, inputs: DraftingInputs, proposal_id: str
) -> ProposalDraft:
    name = inputs.names.get(entity_id, entity_id)
    hhmm = f"{NIGHT_OFF_MINUTE // 60:02d}:{NIGHT_OFF_MINUTE % 60:02d}"
    title = f"{name} off at {hhmm} when left on"
    config = automation_config(
        automation_id(entity_id, "night_off", hhmm.replace(":", "")),
        f"Aether: {title}",
        description(proposal_id, _first_sentence(finding.summary)),
        triggers=[time_trigger(NIGHT_OFF_MINUTE)],
        conditions=[state_condition(entity_id, "on")],
        actions=[switch_action(entity_id, on=False)],
    )
    left_on = metric_value([finding], "nights_left_on", entity_id) or 0.0
    observed = metric_value([finding], "nights_observed", entity_id) or 0.0
    figures: dict[str, Figure] = {"nights_left_on": int(left_on), "nights_observed": int(observed)}
    night_hours = [
        float(proof.data["on_hours"])
        for proof in finding.evidence
        if isinstance(proof.data.get("on_hours"), int | float)
    ]
    if night_hours:
        figures["night_on_hours"] = round(sum(night_hours), 2)
    return ProposalDraft(
        id=proposal_id,
        kind=ProposalKind.NIGHT_OFF,
        title=title,
        entities=referenced_entities(config),
        automation=config,
        justification=justification(finding, finding.summary, finding.confidence, figures),
        saving=_night_saving(entity_id, name, night_hours, observed, inputs),
        confidence=finding.confidence,
    )


def _night_saving(
    entity_id: str,
    name: str,
    night_hours: list[float],
    observed: float,
    inputs: DraftingInputs,
) -> Saving:
    """Each night it was left on, it now runs until 01:00 instead of `on_hours` past midnight."""
    assumptions = [
        f"The nights ahead look like the {observed:.0f} nights analysed.",
        f"{name} is not needed after 01:00 on those nights.",
    ]
    if not night_hours or observed <= 0:
        return Saving(summary="Switches it off on the nights it is forgotten.", assumptions=[])
    saved_hours = sum(max(hours - NIGHT_OFF_MINUTE / 60.0, 0.0) for hours in night_hours)
    per_year = round(saved_hours * DAYS_PER_YEAR / observed, 1)
    power = device_power_w(entity_id, inputs.findings, inputs.names)
    if power is None:
        return Saving(
            hours_per_year=per_year,
            summary=f"About {per_year:,.0f} hours a year less of {name} running at night; the "
            f"energy depends on its power, which no sensor measures.",
            assumptions=assumptions,
        )
    energy = round(per_year * power / 1000.0, 1)
    assumptions.append(f"{name} draws about {power:,.0f} W while on (its meter over its on-time).")
    summary = f"About {per_year:,.0f} hours and {energy:,.1f} kWh a year"
    cost: float | None = None
    if inputs.tariff is not None:
        price = average_price(inputs.tariff, NIGHT_OFF_MINUTE, 6 * 60)
        cost = round(energy * price, 2)
        summary += f", {money(cost, inputs.tariff.currency)} at the night price"
        assumptions.append(f"Night energy costs {price:.3f} {inputs.tariff.currency}/kWh.")
    return Saving(
        energy_kwh_per_year=energy,
        cost_per_year=cost,
        currency=inputs.tariff.currency if inputs.tariff is not None else None,
        hours_per_year=per_year,
        summary=summary + ".",
        assumptions=assumptions,
    )


# --- helpers ------------------------------------------------------------------------------------


def _first_sentence(text: str) -> str:
    return text.split(". ", 1)[0]


def _minutes(clock: str) -> int:
    hours, _, minutes = clock.partition(":")
    return int(hours) * 60 + int(minutes or 0)


def _rounded(minutes: int) -> int:
    return (round(minutes / ROUND_MINUTES) * ROUND_MINUTES) % 1440
