"""Proposals against the fake Home Assistant (real HTTP on loopback): a behavioral finding
becomes a proposal with valid YAML, nothing reaches Home Assistant before approval, a deployment
creates the automation through the config API, a rollback restores exactly what was there, a
rejection keeps its reason, and every transition is in the audit trail."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import yaml

from aether.agents.proposals.automation import to_yaml
from aether.agents.proposals.drafting import DraftingInputs, draft_proposals
from aether.agents.proposals.lifecycle import (
    DeploymentFailedError,
    DeploymentUnavailableError,
    ProposalService,
)
from aether.agents.proposals.model import ProposalDraft, ProposalKind, ProposalStatus
from aether.analysis.registry import friendly_names
from aether.data.homeassistant.automations import HomeAssistantAutomations
from aether.data.source import HouseholdData
from aether.store import Store
from aether.store.proposals import InvalidTransitionError, ProposalRepository
from tests.fakes.home_assistant import FAKE_TOKEN, FakeHomeAssistant, running_fake_home_assistant
from tests.unit.test_analysis_behavioral import ENTITIES, TWO_WEEKS, analyse, planted

USER = "api-key-0123456789ab"


@pytest.fixture
def home_assistant() -> Iterator[tuple[str, FakeHomeAssistant]]:
    household = HouseholdData(frame=planted(), entities=ENTITIES, timezone="Europe/Berlin")
    fake = FakeHomeAssistant(household, now=TWO_WEEKS, keep_days=30)
    with running_fake_home_assistant(fake) as url:
        yield url, fake


@pytest.fixture
async def service(
    store: Store, home_assistant: tuple[str, FakeHomeAssistant]
) -> AsyncIterator[ProposalService]:
    url, _ = home_assistant
    automations = HomeAssistantAutomations(url, FAKE_TOKEN, 10.0)
    yield ProposalService(ProposalRepository(store.database), automations)
    await automations.aclose()


def routine() -> ProposalDraft:
    """The planted living-room routine, drafted from the behavioral analyst's real finding."""
    result = analyse()
    names = friendly_names(ENTITIES) or {e: e for e in ENTITIES}
    drafts = draft_proposals(DraftingInputs(result.findings, names))
    return next(d for d in drafts if d.kind is ProposalKind.ROUTINE and " on at 19:00" in d.title)


async def test_a_finding_becomes_a_proposal_that_stays_out_of_home_assistant(
    service: ProposalService, home_assistant: tuple[str, FakeHomeAssistant]
) -> None:
    _, fake = home_assistant
    draft = routine()
    stored = await service.record(draft, actor="agent:architect")
    assert stored.status is ProposalStatus.PROPOSED
    assert yaml.safe_load(to_yaml(stored.automation)) == draft.automation
    with pytest.raises(InvalidTransitionError):
        await service.deploy(draft.id, actor=USER)
    with pytest.raises(InvalidTransitionError):
        await service.export_yaml(draft.id)
    assert fake.config_requests == []
    assert fake.automations == {}


async def test_approve_then_deploy_creates_the_automation_and_rollback_removes_it(
    service: ProposalService, home_assistant: tuple[str, FakeHomeAssistant]
) -> None:
    _, fake = home_assistant
    draft = routine()
    await service.record(draft, actor="agent:architect")
    await service.approve(draft.id, actor=USER, reason="matches my evenings")
    assert fake.config_requests == []  # approval alone changes nothing in Home Assistant
    deployed = await service.deploy(draft.id, actor=USER)

    assert deployed.status is ProposalStatus.DEPLOYED
    config_id = draft.automation_id
    assert fake.automations[config_id] == draft.automation
    assert next(iter(fake.automations[config_id])) == "id"
    assert fake.loaded[config_id] == draft.automation
    assert f"POST {config_id}" in fake.config_requests
    assert "POST automation.reload" in fake.config_requests
    states = await HomeAssistantAutomations(deployed.deployed_to or "", FAKE_TOKEN, 5).entity_ids()
    assert any(entity.startswith("automation.aether_") for entity in states)
    assert deployed.previous_config is None

    rolled_back = await service.rollback(draft.id, actor="cli", reason="trying without")
    assert rolled_back.status is ProposalStatus.ROLLED_BACK
    assert config_id not in fake.automations
    assert config_id not in fake.loaded
    trail = [(e.action, e.from_status, e.to_status, e.actor) for e in rolled_back.audit]
    assert trail == [
        ("proposed", None, ProposalStatus.PROPOSED, "agent:architect"),
        ("approve", ProposalStatus.PROPOSED, ProposalStatus.APPROVED, USER),
        ("deploy", ProposalStatus.APPROVED, ProposalStatus.DEPLOYED, USER),
        ("rollback", ProposalStatus.DEPLOYED, ProposalStatus.ROLLED_BACK, "cli"),
    ]
    assert rolled_back.audit[1].reason == "matches my evenings"
    assert rolled_back.audit[2].detail["replaced_existing"] is False
    assert rolled_back.audit[3].reason == "trying without"
    assert all(entry.created_at for entry in rolled_back.audit)


async def test_rollback_restores_the_automation_that_was_there_before(
    service: ProposalService, home_assistant: tuple[str, FakeHomeAssistant]
) -> None:
    _, fake = home_assistant
    draft = routine()
    previous = {
        "id": draft.automation_id,
        "alias": "My own evening light",
        "triggers": [{"trigger": "sun", "event": "sunset"}],
        "actions": [{"action": "light.turn_on", "target": {"entity_id": "light.living_room"}}],
    }
    fake.save_automation(draft.automation_id, previous)
    fake.reload_automations()
    await service.record(draft, actor="agent:architect")
    await service.approve(draft.id, actor=USER)
    deployed = await service.deploy(draft.id, actor=USER)
    assert deployed.previous_config == previous
    assert fake.automations[draft.automation_id] == draft.automation

    await service.rollback(draft.id, actor=USER)
    assert fake.automations[draft.automation_id] == previous
    assert fake.loaded[draft.automation_id] == previous


async def test_rejecting_records_the_reason_and_ends_the_lifecycle(
    service: ProposalService, home_assistant: tuple[str, FakeHomeAssistant]
) -> None:
    _, fake = home_assistant
    draft = routine()
    await service.record(draft, actor="agent:architect")
    with pytest.raises(ValueError, match="reason"):
        await service.reject(draft.id, actor=USER, reason="  ")
    rejected = await service.reject(draft.id, actor=USER, reason="I like doing it by hand")
    assert rejected.status is ProposalStatus.REJECTED
    assert rejected.rejection_reason == "I like doing it by hand"
    assert rejected.audit[-1].reason == "I like doing it by hand"
    assert rejected.audit[-1].actor == USER
    for illegal in (service.approve(draft.id, actor=USER), service.deploy(draft.id, actor=USER)):
        with pytest.raises(InvalidTransitionError):
            await illegal
    assert fake.config_requests == []


async def test_home_assistant_without_the_entity_refuses_and_nothing_changes(
    service: ProposalService, home_assistant: tuple[str, FakeHomeAssistant]
) -> None:
    _, fake = home_assistant
    draft = routine()
    action = {"action": "light.turn_on", "target": {"entity_id": "light.attic"}}
    ghost = draft.model_copy(update={"automation": {**draft.automation, "actions": [action]}})
    await service.record(ghost, actor="agent:architect")
    await service.approve(ghost.id, actor=USER)
    with pytest.raises(DeploymentFailedError) as failed:
        await service.deploy(ghost.id, actor=USER)
    assert failed.value.code == "invalid_automation"
    assert "light.attic" in failed.value.message
    stored = await service.get(ghost.id)
    assert stored.status is ProposalStatus.APPROVED
    assert stored.audit[-1].action == "deploy_failed"
    assert fake.automations == {}


async def test_a_token_home_assistant_refuses_is_a_clear_failure(
    store: Store, home_assistant: tuple[str, FakeHomeAssistant]
) -> None:
    url, fake = home_assistant
    automations = HomeAssistantAutomations(url, "not-an-admin", 5.0)
    service = ProposalService(ProposalRepository(store.database), automations)
    draft = routine()
    await service.record(draft, actor="agent:architect")
    await service.approve(draft.id, actor=USER)
    with pytest.raises(DeploymentFailedError) as failed:
        await service.deploy(draft.id, actor=USER)
    await automations.aclose()
    assert failed.value.code == "unauthorized"
    assert "administrator" in failed.value.message
    assert fake.automations == {}


async def test_without_home_assistant_an_approved_proposal_is_exported_as_yaml(
    store: Store,
) -> None:
    service = ProposalService(ProposalRepository(store.database), None)
    draft = routine()
    await service.record(draft, actor="agent:architect")
    await service.approve(draft.id, actor=USER)
    with pytest.raises(DeploymentUnavailableError):
        await service.deploy(draft.id, actor=USER)
    exported = yaml.safe_load(await service.export_yaml(draft.id))
    assert exported == [draft.automation]
    assert (await service.get(draft.id)).status is ProposalStatus.APPROVED
