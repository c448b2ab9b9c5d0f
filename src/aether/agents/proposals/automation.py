"""Home Assistant automation configurations, built from parts and written as YAML.

The configuration is what Home Assistant's config API stores for a UI automation and what
`automations.yaml` holds: `id`, `alias`, `description`, `mode`, then `triggers`, `conditions`
and `actions` in the syntax of Home Assistant 2024.10 and later (`trigger: time`, `action:
light.turn_off`). Keys are written in Home Assistant's own order, whatever order the mapping
arrived in (a configuration that crossed A2A as a protobuf Struct has lost its key order).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import yaml

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_SETS: Final[Mapping[str, tuple[str, ...]]] = {
    "weekdays": WEEKDAYS[:5],
    "weekends": WEEKDAYS[5:],
}
"""The routine kinds of the behavioral analyst that need a weekday condition; `every day` needs
none."""
SWITCHABLE_DOMAINS: Final = frozenset({"switch", "light", "fan", "input_boolean"})
"""Domains whose entities have `turn_on` and `turn_off` services of their own."""
TOP_LEVEL_ORDER: Final = (
    "id",
    "alias",
    "description",
    "mode",
    "max",
    "max_exceeded",
    "initial_state",
    "variables",
    "trigger_variables",
    "triggers",
    "trigger",
    "conditions",
    "condition",
    "actions",
    "action",
)
_ITEM_LEADS: Final = ("trigger", "platform", "condition", "action", "service", "id", "alias")
_SLUG: Final = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """Lower-case words joined by `_`, as Home Assistant makes object ids."""
    return _SLUG.sub("_", text.lower()).strip("_")


def automation_id(*parts: str) -> str:
    """A stable config id: the same routine of the same device always gets the same one, so a new
    proposal for it replaces (and keeps for rollback) what an earlier one deployed."""
    return "aether_" + "_".join(slug(part) for part in parts if slug(part))


def clock_text(minutes: int) -> str:
    """`HH:MM:SS`, the form of a time trigger's `at`."""
    whole = minutes % 1440
    return f"{whole // 60:02d}:{whole % 60:02d}:00"


def time_trigger(minutes: int, trigger_id: str | None = None) -> dict[str, Any]:
    trigger: dict[str, Any] = {"trigger": "time", "at": clock_text(minutes)}
    if trigger_id is not None:
        trigger["id"] = trigger_id
    return trigger


def weekday_condition(days: Sequence[str]) -> dict[str, Any]:
    return {"condition": "time", "weekday": list(days)}


def state_condition(entity_id: str, state: str) -> dict[str, Any]:
    return {"condition": "state", "entity_id": entity_id, "state": state}


def trigger_condition(trigger_id: str) -> dict[str, Any]:
    return {"condition": "trigger", "id": trigger_id}


def switch_action(entity_id: str, *, on: bool) -> dict[str, Any]:
    """`<domain>.turn_on` / `turn_off` on one entity of a switchable domain."""
    domain = entity_id.split(".", 1)[0]
    return {
        "action": f"{domain}.turn_{'on' if on else 'off'}",
        "target": {"entity_id": entity_id},
    }


def choose_action(options: Iterable[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """One `choose` action: each (condition, action) pair runs its action when its condition
    holds."""
    return {
        "choose": [
            {"conditions": [condition], "sequence": [action]} for condition, action in options
        ]
    }


def automation_config(
    config_id: str,
    alias: str,
    description: str,
    *,
    triggers: list[dict[str, Any]],
    conditions: list[dict[str, Any]],
    actions: list[dict[str, Any]],
    mode: str = "single",
) -> dict[str, Any]:
    return {
        "id": config_id,
        "alias": alias,
        "description": description,
        "mode": mode,
        "triggers": triggers,
        "conditions": conditions,
        "actions": actions,
    }


def ordered(config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration with its keys in Home Assistant's order, at every level."""
    return _ordered_mapping(config, TOP_LEVEL_ORDER)


def to_yaml(config: Mapping[str, Any]) -> str:
    """One automation as a YAML mapping (what the automation editor's "Edit in YAML" shows)."""
    return yaml.safe_dump(ordered(config), sort_keys=False, allow_unicode=True, width=100)


def export_yaml(configs: Iterable[Mapping[str, Any]]) -> str:
    """Automations as a YAML list, ready to append to Home Assistant's `automations.yaml`."""
    return yaml.safe_dump(
        [ordered(config) for config in configs], sort_keys=False, allow_unicode=True, width=100
    )


def _ordered_mapping(mapping: Mapping[str, Any], leads: Sequence[str]) -> dict[str, Any]:
    first = [key for key in leads if key in mapping]
    rest = [key for key in mapping if key not in leads]
    return {key: _ordered_value(mapping[key]) for key in [*first, *rest]}


def _ordered_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _ordered_mapping(value, _ITEM_LEADS)
    if isinstance(value, list):
        return [_ordered_value(item) for item in value]
    return value
