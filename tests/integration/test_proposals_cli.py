"""`aether proposals list|show|approve|reject|deploy|rollback` as a user runs them, on the
gateway's database and against the fake Home Assistant; every decision is recorded as `cli`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from aether.agents.proposals.model import ProposalDraft
from aether.cli import main
from aether.data.source import HouseholdData
from aether.store import Store
from aether.store.proposals import ProposalRepository
from tests.fakes.home_assistant import FAKE_TOKEN, FakeHomeAssistant, running_fake_home_assistant
from tests.integration.test_proposals_home_assistant import routine
from tests.unit.test_analysis_behavioral import ENTITIES, TWO_WEEKS, planted


@pytest.fixture
def draft(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProposalDraft:
    """A proposal drafted from the planted routine, stored in the data directory's database."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AETHER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    proposal = routine()

    async def seed() -> None:
        store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'var' / 'aether.db'}")
        try:
            await ProposalRepository(store.database).add(proposal, actor="agent:architect")
        finally:
            await store.close()

    asyncio.run(seed())
    return proposal


def aether(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["proposals", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_review_approve_deploy_and_roll_back_from_the_terminal(
    draft: ProposalDraft, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    household = HouseholdData(frame=planted(), entities=ENTITIES, timezone="Europe/Berlin")
    fake = FakeHomeAssistant(household, now=TWO_WEEKS, keep_days=30)
    with running_fake_home_assistant(fake) as url:
        monkeypatch.setenv("HA_URL", url)
        monkeypatch.setenv("HA_TOKEN", FAKE_TOKEN)
        status, out, _ = aether(capsys, "list", "--status", "proposed")
        assert status == 0
        assert draft.id in out
        assert draft.title in out

        status, out, _ = aether(capsys, "show", draft.id)
        assert status == 0
        assert "light.turn_on" in out
        assert "audit trail:" in out
        assert "by agent:architect" in out

        status, _, err = aether(capsys, "show", draft.id, "--yaml")
        assert status == 1
        assert "can only be exported when it is" in err
        assert fake.config_requests == []

        assert aether(capsys, "approve", draft.id, "--reason", "fine")[0] == 0
        status, out, _ = aether(capsys, "show", draft.id, "--yaml")
        assert status == 0
        assert yaml.safe_load(out) == [draft.automation]
        assert fake.config_requests == []

        status, out, _ = aether(capsys, "deploy", draft.id)
        assert (status, out.strip()) == (0, f"proposal {draft.id} is deployed: {draft.title}")
        assert fake.automations[draft.automation_id] == draft.automation

        assert aether(capsys, "rollback", draft.id)[0] == 0
        assert draft.automation_id not in fake.automations

        status, out, _ = aether(capsys, "show", draft.id)
        for action in ("approve", "deploy", "rollback"):
            assert f"{action}" in out
        assert out.count("by cli") == 3

        status, _, err = aether(capsys, "deploy", draft.id)
        assert status == 1
        assert "is rolled_back" in err


def test_reject_needs_a_reason_and_unknown_ids_are_refused(
    draft: ProposalDraft, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as usage:
        aether(capsys, "reject", draft.id)
    assert usage.value.code == 2
    status, out, _ = aether(capsys, "reject", draft.id, "--reason", "not for me")
    assert (status, out.strip()) == (0, f"proposal {draft.id} is rejected: {draft.title}")
    status, _, err = aether(capsys, "approve", "ffffffffffff")
    assert status == 1
    assert "no proposal 'ffffffffffff'" in err
    status, _, err = aether(capsys, "deploy", draft.id)
    assert status == 1
    status, out, _ = aether(capsys, "list", "--json")
    assert '"rejection_reason": "not for me"' in out
