"""Findings become proposals: valid Home Assistant automations with real entity ids, the finding
and figures behind them, and a saving whose assumptions are stated."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
import yaml

from aether.agents.proposals.automation import export_yaml, to_yaml
from aether.agents.proposals.drafting import DraftingInputs, draft_proposals
from aether.agents.proposals.model import ProposalDraft, ProposalKind
from aether.agents.proposals.validation import automation_problems
from aether.analysis.findings import AnalysisResult, Evidence, Finding, Metric
from aether.analysis.tariff import Tariff
from tests.unit.test_analysis_behavioral import analyse

START = datetime(2026, 3, 2, tzinfo=UTC)
END = START + timedelta(days=7)
NAMES = {"switch.tv": "TV", "sensor.tv_power": "TV power", "switch.ev_charger": "EV charger"}


def ids() -> Callable[[], str]:
    numbers = count(1)
    return lambda: f"p{next(numbers):011d}"


def drafts_of(result: AnalysisResult, tariff: Tariff | None = None) -> list[ProposalDraft]:
    inputs = DraftingInputs(result.findings, result.entity_names, tariff)
    return draft_proposals(inputs, ids())


def only(
    drafts: list[ProposalDraft], kind: ProposalKind, entity_id: str, titled: str = ""
) -> ProposalDraft:
    [draft] = [
        d for d in drafts if d.kind is kind and entity_id in d.entities and titled in d.title
    ]
    return draft


def finding(kind: str, **fields: object) -> Finding:
    base: dict[str, object] = {
        "analyst": "behavioral",
        "kind": kind,
        "title": kind,
        "summary": f"{kind}.",
        "confidence": 0.9,
        "period_start": START,
        "period_end": END,
    }
    return Finding.model_validate(base | fields)


def test_a_recurring_action_becomes_a_valid_automation_with_real_entities() -> None:
    result = analyse()
    draft = only(drafts_of(result), ProposalKind.ROUTINE, "light.living_room", "on at 19:00")
    config = draft.automation
    assert automation_problems(config, {"light.living_room"}) == []
    assert config["triggers"] == [{"trigger": "time", "at": "19:00:00"}]
    assert config["conditions"] == [
        {"condition": "time", "weekday": ["mon", "tue", "wed", "thu", "fri"]}
    ]
    assert config["actions"] == [
        {"action": "light.turn_on", "target": {"entity_id": "light.living_room"}}
    ]
    assert config["id"] == "aether_light_living_room_on_1900_weekdays"
    assert draft.id in config["description"]
    loaded = yaml.safe_load(to_yaml(config))
    assert loaded == config
    assert list(loaded)[:4] == ["id", "alias", "description", "mode"]
    assert yaml.safe_load(export_yaml([config])) == [config]


def test_the_proposal_carries_the_finding_its_figures_and_the_saving() -> None:
    draft = only(drafts_of(analyse()), ProposalKind.ROUTINE, "light.living_room", "on at")
    why = draft.justification
    assert why.finding_kind == "recurring_action"
    assert why.figures["support_days"] == 8
    assert why.figures["eligible_days"] == 10
    assert why.figures["time"] == "19:00"
    assert "around 19:00 on weekdays (8 of 10 days)" in why.summary
    assert 0.4 <= draft.confidence == why.confidence <= 0.95
    assert draft.saving.energy_kwh_per_year is None
    assert draft.saving.summary.startswith("No energy saving")
    assert draft.saving.assumptions


def test_a_light_left_on_at_night_is_switched_off_when_still_on() -> None:
    result = analyse()
    draft = only(drafts_of(result), ProposalKind.NIGHT_OFF, "light.garden")
    assert draft.automation["triggers"] == [{"trigger": "time", "at": "01:00:00"}]
    assert draft.automation["conditions"] == [
        {"condition": "state", "entity_id": "light.garden", "state": "on"}
    ]
    assert draft.automation["actions"] == [
        {"action": "light.turn_off", "target": {"entity_id": "light.garden"}}
    ]
    # Three nights on for 6 h each; from now on each stops at 01:00: 5 h saved per night.
    night = next(f for f in result.findings if f.kind == "left_on_overnight")
    observed = next(m.value for m in night.metrics if m.name == "nights_observed")
    assert draft.saving.hours_per_year == pytest.approx(15 * 365 / observed, abs=0.1)
    assert draft.saving.energy_kwh_per_year is None  # no power sensor for the garden light
    assert "no sensor measures" in draft.saving.summary


def test_an_off_routine_only_acts_when_the_device_is_on() -> None:
    draft = only(drafts_of(analyse()), ProposalKind.ROUTINE, "light.living_room", "off at")
    assert draft.automation["triggers"] == [{"trigger": "time", "at": "23:00:00"}]
    assert {"condition": "state", "entity_id": "light.living_room", "state": "on"} in (
        draft.automation["conditions"]
    )
    assert draft.automation["actions"][0]["action"] == "light.turn_off"
    assert "cannot put a number on it" in draft.saving.summary


def test_random_switching_and_weak_routines_give_no_proposal() -> None:
    drafts = drafts_of(analyse())
    assert not [d for d in drafts if "switch.random" in d.entities]
    weak = finding(
        "recurring_action",
        entities=["switch.tv"],
        evidence=[
            Evidence(
                description="switched on around 20:00 on every day (3 of 7 days)",
                entity_id="switch.tv",
                data={"action": "on", "time": "20:00", "days": "every day", "confidence": 0.3},
            )
        ],
    )
    assert draft_proposals(DraftingInputs([weak], NAMES)) == []


def test_a_night_off_with_a_power_sensor_has_energy_and_cost() -> None:
    findings = [
        finding(
            "left_on_overnight",
            entities=["switch.tv"],
            metrics=[
                Metric(name="nights_left_on", value=2, unit="count", entity_id="switch.tv"),
                Metric(name="nights_observed", value=7, unit="count", entity_id="switch.tv"),
            ],
            evidence=[
                Evidence(description="on", entity_id="switch.tv", data={"on_hours": 6.0}),
                Evidence(description="on", entity_id="switch.tv", data={"on_hours": 4.0}),
            ],
        ),
        finding(
            "usage_pattern",
            entities=["switch.tv"],
            metrics=[Metric(name="on_time", value=40.0, unit="h", entity_id="switch.tv")],
        ),
        finding(
            "top_consumers",
            analyst="energy",
            metrics=[Metric(name="energy", value=4.0, unit="kWh", entity_id="sensor.tv_power")],
        ),
    ]
    tariff = Tariff.parse("0.30 EUR")
    [draft] = draft_proposals(DraftingInputs(findings, NAMES, tariff))
    assert draft.kind is ProposalKind.NIGHT_OFF
    hours = (5.0 + 3.0) * 365 / 7  # stopped at 01:00 instead of after 6 h and 4 h
    power_w = 4.0 * 1000 / 40.0  # its meter over the switch's on-time
    assert draft.saving.hours_per_year == pytest.approx(hours, abs=0.1)
    assert draft.saving.energy_kwh_per_year == pytest.approx(hours * power_w / 1000, abs=0.1)
    assert draft.saving.cost_per_year == pytest.approx(hours * power_w / 1000 * 0.30, abs=0.05)
    assert draft.saving.currency == "EUR"
    assert any("100 W" in assumption for assumption in draft.saving.assumptions)


def load_finding(kwh: float) -> Finding:
    return finding(
        "top_consumers",
        analyst="energy",
        metrics=[Metric(name="energy", value=kwh, unit="kWh", entity_id="sensor.ev_charger_power")],
        entities=["sensor.ev_charger_power"],
    )


def test_a_heavy_load_with_a_switch_moves_to_the_cheapest_hours() -> None:
    tariff = Tariff.parse("EUR 0.20@00-06,0.40")
    [draft] = draft_proposals(DraftingInputs([load_finding(70.0)], NAMES, tariff))
    assert draft.kind is ProposalKind.LOAD_SHIFT
    triggers = draft.automation["triggers"]
    assert triggers == [
        {"trigger": "time", "at": "00:00:00", "id": "cheap_start"},
        {"trigger": "time", "at": "06:00:00", "id": "cheap_end"},
    ]
    [choose] = draft.automation["actions"]
    options = choose["choose"]
    assert options[0]["sequence"] == [
        {"action": "switch.turn_on", "target": {"entity_id": "switch.ev_charger"}}
    ]
    assert options[1]["conditions"] == [{"condition": "trigger", "id": "cheap_end"}]
    paid = 0.20 * 6 / 24 + 0.40 * 18 / 24  # the tariff's average, without a cost finding
    assert draft.saving.cost_per_year == pytest.approx(70 * 365 / 7 * (paid - 0.20), abs=0.05)
    assert draft.saving.energy_kwh_per_year == 0.0
    assert automation_problems(draft.automation, {"switch.ev_charger"}) == []


def test_no_load_shift_without_a_time_of_use_tariff_or_a_switch() -> None:
    flat = Tariff.parse("0.30 EUR")
    assert draft_proposals(DraftingInputs([load_finding(70.0)], NAMES, flat)) == []
    assert draft_proposals(DraftingInputs([load_finding(70.0)], NAMES, None)) == []
    no_switch = {"sensor.ev_charger_power": "EV charger"}
    tou = Tariff.parse("EUR 0.20@00-06,0.40")
    assert draft_proposals(DraftingInputs([load_finding(70.0)], no_switch, tou)) == []


def test_standby_is_advice_not_an_automation() -> None:
    standby = finding(
        "standby_consumption",
        entities=["sensor.tv_power"],
        metrics=[Metric(name="standby_power", value=8.0, unit="W", entity_id="sensor.tv_power")],
    )
    assert draft_proposals(DraftingInputs([standby], NAMES)) == []


def test_an_entity_the_household_does_not_have_is_never_proposed() -> None:
    ghost = finding(
        "recurring_action",
        entities=[],
        evidence=[
            Evidence(
                description="switched on around 20:00 on every day (7 of 7 days)",
                entity_id="light.GHOST",
                data={"action": "on", "time": "20:00", "days": "every day", "confidence": 0.9},
            )
        ],
    )
    assert draft_proposals(DraftingInputs([ghost], NAMES)) == []
