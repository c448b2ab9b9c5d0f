"""Automations are checked against the essentials of Home Assistant's automation schema and the
household's entities before anyone sees them."""

from __future__ import annotations

from typing import Any

import pytest

from aether.agents.proposals.validation import (
    ProposalInvalidError,
    automation_problems,
    check_automation,
    referenced_entities,
)

KNOWN = {"light.garden", "switch.kettle"}


def config(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "aether_light_garden_off_0100",
        "alias": "Aether: Garden light off at 01:00 when left on",
        "description": "Proposed by Aether.",
        "mode": "single",
        "triggers": [{"trigger": "time", "at": "01:00:00"}],
        "conditions": [{"condition": "state", "entity_id": "light.garden", "state": "on"}],
        "actions": [{"action": "light.turn_off", "target": {"entity_id": "light.garden"}}],
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def test_a_valid_automation_passes() -> None:
    assert automation_problems(config(), KNOWN) == []
    check_automation(config(), KNOWN)


def test_the_older_singular_spellings_are_accepted() -> None:
    legacy = config(
        triggers=None,
        conditions=None,
        actions=None,
        trigger=[{"platform": "time", "at": "01:00"}],
        action=[{"service": "light.turn_off", "target": {"entity_id": "light.garden"}}],
    )
    assert automation_problems(legacy, KNOWN) == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"triggers": None}, "triggers: required"),
        ({"actions": []}, "actions: needs at least one entry"),
        ({"trigger": [{"trigger": "time", "at": "01:00"}]}, "not both"),
        ({"mode": "sometimes"}, "mode: 'sometimes'"),
        ({"alias": " "}, "alias"),
        ({"id": "has spaces"}, "id:"),
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"triggers": [{"trigger": "time", "at": "25:00"}]}, "'25:00' is not HH:MM"),
        ({"triggers": [{"trigger": "moon"}]}, "'moon' is not a known trigger type"),
        ({"triggers": [{"trigger": "state"}]}, "entity_id: required for a state trigger"),
        ({"conditions": [{"condition": "time"}]}, "needs after, before or weekday"),
        ({"conditions": [{"condition": "time", "weekday": ["mon", "funday"]}]}, "weekday"),
        ({"conditions": [{"condition": "state", "entity_id": "light.garden"}]}, "state: required"),
        ({"actions": [{"action": "turn off the light"}]}, "is not a `domain.service` name"),
        (
            {"actions": [{"action": "light.turn_off", "target": {"entity_id": "light.porch"}}]},
            "entity 'light.porch' does not exist in this household",
        ),
        (
            {"actions": [{"action": "switch.turn_off", "target": {"entity_id": "light.garden"}}]},
            "switch.turn_off cannot act on light.garden",
        ),
        ({"actions": [{"choose": [{"conditions": []}]}]}, "sequence: needs at least one action"),
    ],
)
def test_what_home_assistant_would_refuse_is_named(changes: dict[str, Any], problem: str) -> None:
    problems = automation_problems(config(**changes), KNOWN)
    assert any(problem in text for text in problems), problems
    with pytest.raises(ProposalInvalidError):
        check_automation(config(**changes), KNOWN)


def test_generic_homeassistant_services_may_act_on_any_domain() -> None:
    generic = config(
        actions=[{"action": "homeassistant.turn_off", "target": {"entity_id": ["light.garden"]}}]
    )
    assert automation_problems(generic, KNOWN) == []


def test_referenced_entities_are_found_everywhere_once() -> None:
    nested = config(
        actions=[
            {
                "choose": [
                    {
                        "conditions": [{"condition": "trigger", "id": "x"}],
                        "sequence": [
                            {"action": "switch.turn_on", "target": {"entity_id": "switch.kettle"}}
                        ],
                    }
                ],
                "default": [
                    {"action": "light.turn_off", "target": {"entity_id": ["light.garden"]}}
                ],
            }
        ]
    )
    assert referenced_entities(nested) == ["light.garden", "switch.kettle"]
    assert automation_problems(nested, KNOWN) == []
