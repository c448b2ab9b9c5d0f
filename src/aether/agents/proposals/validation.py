"""Checks an automation against the essentials of Home Assistant's automation schema and the
household's entities, before it is offered to anyone and again before it is deployed.

Home Assistant validates with voluptuous schemas (homeassistant/components/automation/config.py,
helpers/config_validation.py); this module checks what Aether's automations use, with the same
rules: `triggers` and `actions` are required non-empty lists (the singular `trigger`, `condition`
and `action` of older releases are accepted, but not both spellings at once), `mode` is one of
single/restart/queued/parallel, a service is `domain.service`, a time is `HH:MM[:SS]`, a weekday
is `mon`..`sun`, a time condition names at least one of after/before/weekday, a state condition
an entity and a state, and `choose` options have conditions and a sequence. On top of the schema:
every entity named must exist in the household, and a service must belong to the domain of the
entities it targets (`light.turn_off` on a light), or be `homeassistant.*`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any, Final

import yaml

from aether.agents.proposals.automation import WEEKDAYS, to_yaml

ALLOWED_KEYS: Final = frozenset(
    {
        "id",
        "alias",
        "description",
        "mode",
        "max",
        "max_exceeded",
        "initial_state",
        "variables",
        "trigger_variables",
        "trace",
        "triggers",
        "trigger",
        "conditions",
        "condition",
        "actions",
        "action",
    }
)
MODES: Final = frozenset({"single", "restart", "queued", "parallel"})
TRIGGER_TYPES: Final = frozenset(
    {
        "time",
        "time_pattern",
        "state",
        "numeric_state",
        "sun",
        "homeassistant",
        "event",
        "template",
        "zone",
        "device",
    }
)
CONDITION_TYPES: Final = frozenset(
    {"time", "state", "numeric_state", "sun", "trigger", "and", "or", "not", "template", "zone"}
)
ENTITY_ID: Final = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")
SERVICE: Final = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")
CONFIG_ID: Final = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
"""Stricter than Home Assistant (any string): the id goes into the config API's URL path."""
TIME: Final = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")
_GENERIC_DOMAIN: Final = "homeassistant"


class ProposalInvalidError(ValueError):
    """An automation that Home Assistant would refuse, or that names unknown entities."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def check_automation(config: Mapping[str, Any], known_entities: Collection[str]) -> None:
    """Raise ProposalInvalidError listing every problem of `config`."""
    problems = automation_problems(config, known_entities)
    if problems:
        raise ProposalInvalidError(problems)


def automation_problems(config: Mapping[str, Any], known_entities: Collection[str]) -> list[str]:
    """Every problem of `config`, as sentences that name the offending path; empty when valid."""
    if not isinstance(config, Mapping):
        return ["the automation is not a mapping"]
    problems: list[str] = []
    problems += [f"unknown key {key!r}" for key in config if key not in ALLOWED_KEYS]
    problems += _identity_problems(config)
    triggers = _section(config, "triggers", "trigger", problems, required=True)
    conditions = _section(config, "conditions", "condition", problems, required=False)
    actions = _section(config, "actions", "action", problems, required=True)
    for index, trigger in enumerate(triggers):
        problems += _trigger_problems(trigger, f"triggers[{index}]")
    for index, condition in enumerate(conditions):
        problems += _condition_problems(condition, f"conditions[{index}]")
    for index, action in enumerate(actions):
        problems += _action_problems(action, f"actions[{index}]")
    problems += _entity_problems(config, known_entities)
    if not problems and yaml.safe_load(to_yaml(config)) != dict(config):
        problems.append("the automation does not survive a YAML round trip")
    return problems


def referenced_entities(config: Mapping[str, Any]) -> list[str]:
    """Every entity id the automation names, in order of appearance, each once."""
    seen: dict[str, None] = {}
    for key, value in _walk(config):
        if key == "entity_id":
            for entity_id in value if isinstance(value, list) else [value]:
                if isinstance(entity_id, str):
                    seen.setdefault(entity_id, None)
    return list(seen)


def _identity_problems(config: Mapping[str, Any]) -> list[str]:
    problems = []
    config_id = config.get("id")
    if not isinstance(config_id, str) or not CONFIG_ID.match(config_id):
        problems.append("id: must be 1-128 letters, digits, `_` or `-`")
    alias = config.get("alias")
    if not isinstance(alias, str) or not alias.strip():
        problems.append("alias: a non-empty name is required")
    if "description" in config and not isinstance(config["description"], str):
        problems.append("description: must be text")
    mode = config.get("mode", "single")
    if mode not in MODES:
        problems.append(f"mode: {mode!r} is not one of {', '.join(sorted(MODES))}")
    if "max" in config and mode not in ("queued", "parallel"):
        problems.append("max: only applies to queued and parallel modes")
    return problems


def _section(
    config: Mapping[str, Any], plural: str, singular: str, problems: list[str], *, required: bool
) -> list[Any]:
    if plural in config and singular in config:
        problems.append(f"{plural}: give either {plural!r} or {singular!r}, not both")
        return []
    value = config.get(plural, config.get(singular))
    if value is None:
        if required:
            problems.append(f"{plural}: required")
        return []
    items = value if isinstance(value, list) else [value]
    if required and not items:
        problems.append(f"{plural}: needs at least one entry")
    return items


def _trigger_problems(trigger: Any, where: str) -> list[str]:
    if not isinstance(trigger, Mapping):
        return [f"{where}: must be a mapping"]
    kind = trigger.get("trigger", trigger.get("platform"))
    if kind not in TRIGGER_TYPES:
        return [f"{where}.trigger: {kind!r} is not a known trigger type"]
    if kind == "time":
        return _times(trigger.get("at"), f"{where}.at", required=True)
    if kind in ("state", "numeric_state") and not trigger.get("entity_id"):
        return [f"{where}.entity_id: required for a {kind} trigger"]
    if kind == "sun" and trigger.get("event") not in ("sunrise", "sunset"):
        return [f"{where}.event: must be sunrise or sunset"]
    if kind == "time_pattern" and not {"hours", "minutes", "seconds"} & set(trigger):
        return [f"{where}: a time_pattern trigger needs hours, minutes or seconds"]
    return []


def _condition_problems(condition: Any, where: str) -> list[str]:
    if not isinstance(condition, Mapping):
        return [f"{where}: must be a mapping"]
    kind = condition.get("condition")
    if kind not in CONDITION_TYPES:
        return [f"{where}.condition: {kind!r} is not a known condition type"]
    if kind == "time":
        return _time_condition_problems(condition, where)
    if kind == "state":
        missing = [key for key in ("entity_id", "state") if key not in condition]
        return [f"{where}.{key}: required for a state condition" for key in missing]
    if kind == "trigger" and not condition.get("id"):
        return [f"{where}.id: required for a trigger condition"]
    if kind in ("and", "or", "not"):
        nested = condition.get("conditions")
        if not isinstance(nested, list) or not nested:
            return [f"{where}.conditions: {kind} needs a list of conditions"]
        return [
            problem
            for index, item in enumerate(nested)
            for problem in _condition_problems(item, f"{where}.conditions[{index}]")
        ]
    return []


def _time_condition_problems(condition: Mapping[str, Any], where: str) -> list[str]:
    if not {"after", "before", "weekday"} & set(condition):
        return [f"{where}: a time condition needs after, before or weekday"]
    problems = []
    for key in ("after", "before"):
        if key in condition:
            problems += _times(condition[key], f"{where}.{key}", required=True)
    if "weekday" in condition:
        days = condition["weekday"]
        listed = days if isinstance(days, list) else [days]
        wrong = [day for day in listed if day not in WEEKDAYS]
        if wrong or not listed:
            problems.append(f"{where}.weekday: use {', '.join(WEEKDAYS)} (got {wrong or days})")
    return problems


def _action_problems(action: Any, where: str) -> list[str]:
    if not isinstance(action, Mapping):
        return [f"{where}: must be a mapping"]
    if "choose" in action:
        return _choose_problems(action, where)
    if "delay" in action:
        return []
    if "condition" in action:
        return _condition_problems(action, where)
    service = action.get("action", action.get("service"))
    if not isinstance(service, str) or not SERVICE.match(service):
        return [f"{where}.action: {service!r} is not a `domain.service` name"]
    target = action.get("target", {})
    if not isinstance(target, Mapping):
        return [f"{where}.target: must be a mapping"]
    return []


def _choose_problems(action: Mapping[str, Any], where: str) -> list[str]:
    options = action["choose"]
    if not isinstance(options, list) or not options:
        return [f"{where}.choose: needs a list of options"]
    problems = []
    for index, option in enumerate(options):
        here = f"{where}.choose[{index}]"
        if not isinstance(option, Mapping) or "conditions" not in option:
            problems.append(f"{here}.conditions: required")
            continue
        conditions = option["conditions"]
        for number, condition in enumerate(
            conditions if isinstance(conditions, list) else [conditions]
        ):
            problems += _condition_problems(condition, f"{here}.conditions[{number}]")
        sequence = option.get("sequence")
        if not isinstance(sequence, list) or not sequence:
            problems.append(f"{here}.sequence: needs at least one action")
            continue
        for number, step in enumerate(sequence):
            problems += _action_problems(step, f"{here}.sequence[{number}]")
    for number, step in enumerate(action.get("default", []) or []):
        problems += _action_problems(step, f"{where}.default[{number}]")
    return problems


def _times(value: Any, where: str, *, required: bool) -> list[str]:
    if value is None:
        return [f"{where}: required"] if required else []
    listed = value if isinstance(value, list) else [value]
    wrong = [
        item
        for item in listed
        if not isinstance(item, str) or not (TIME.match(item) or ENTITY_ID.match(item))
    ]
    return [f"{where}: {item!r} is not HH:MM[:SS] or an entity id" for item in wrong]


def _entity_problems(config: Mapping[str, Any], known: Collection[str]) -> list[str]:
    problems = []
    for entity_id in referenced_entities(config):
        if not ENTITY_ID.match(entity_id):
            problems.append(f"entity {entity_id!r} is not a valid entity id")
        elif entity_id not in known:
            problems.append(f"entity {entity_id!r} does not exist in this household")
    for service, targets in _service_targets(config):
        domain = service.split(".", 1)[0]
        strangers = [e for e in targets if e.split(".", 1)[0] != domain]
        if domain != _GENERIC_DOMAIN and strangers:
            problems.append(f"{service} cannot act on {', '.join(strangers)} (another domain)")
    return problems


def _service_targets(config: Mapping[str, Any]) -> Iterator[tuple[str, list[str]]]:
    """(service, entity ids it targets) for every service call in the automation."""
    for _, value in _walk(config):
        if not isinstance(value, Mapping):
            continue
        service = value.get("action", value.get("service"))
        if not isinstance(service, str) or not SERVICE.match(service):
            continue
        target = value.get("target") or value.get("data") or {}
        entities = target.get("entity_id", []) if isinstance(target, Mapping) else []
        listed = entities if isinstance(entities, list) else [entities]
        yield service, [e for e in listed if isinstance(e, str)]


def _walk(value: Any, key: str | None = None) -> Iterator[tuple[str | None, Any]]:
    """Every (key, value) pair in a nested configuration, depth first; list items under their
    list's key."""
    yield key, value
    if isinstance(value, Mapping):
        for child_key, child in value.items():
            yield from _walk(child, str(child_key))
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, Mapping | list):
                yield from _walk(item, key)
