"""The proposals repository on SQLite (and PostgreSQL when reachable): lifecycle transitions
are atomic and audited, illegal ones refused, filters work, and questions are tracked per
conversation."""

from __future__ import annotations

import asyncio

import pytest

from aether.agents.proposals.model import ProposalDraft, ProposalStatus
from aether.store import Store
from aether.store.proposals import (
    InvalidTransitionError,
    ProposalFilter,
    ProposalNotFoundError,
    ProposalRepository,
    RequestStatus,
    Transition,
)
from tests.unit.test_proposals_mapping import DRAFT

APPROVE = Transition(
    "approve", frozenset({ProposalStatus.PROPOSED}), ProposalStatus.APPROVED, "api-key-abc", "fine"
)


def draft(proposal_id: str, entity_id: str = "switch.coffee_machine") -> ProposalDraft:
    return DRAFT.model_copy(update={"id": proposal_id, "entities": [entity_id]})


async def test_a_draft_is_stored_as_proposed_with_who_drafted_it(store: Store) -> None:
    repository = ProposalRepository(store.database)
    conversation = await store.conversations.create("automations")
    stored = await repository.add(DRAFT, actor="agent:architect", conversation_id=conversation.id)
    assert stored.status is ProposalStatus.PROPOSED
    assert stored.automation == DRAFT.automation
    assert stored.justification == DRAFT.justification
    assert stored.saving == DRAFT.saving
    assert stored.entities == ["switch.coffee_machine"]
    [entry] = stored.audit
    assert (entry.action, entry.from_status, entry.to_status) == (
        "proposed",
        None,
        ProposalStatus.PROPOSED,
    )
    assert entry.actor == "agent:architect"
    again = await repository.add(DRAFT, actor="agent:architect")  # delivered twice
    assert again == stored


async def test_transitions_are_audited_and_illegal_ones_refused(store: Store) -> None:
    repository = ProposalRepository(store.database)
    await repository.add(DRAFT, actor="agent:architect")
    approved = await repository.transition(DRAFT.id, APPROVE)
    assert approved.status is ProposalStatus.APPROVED
    assert approved.audit[-1].actor == "api-key-abc"
    assert approved.audit[-1].reason == "fine"
    with pytest.raises(InvalidTransitionError) as refused:
        await repository.transition(DRAFT.id, APPROVE)
    assert "is approved; it can only be approved when it is proposed" in str(refused.value)
    with pytest.raises(ProposalNotFoundError):
        await repository.transition("nope", APPROVE)
    assert len((await repository.get(DRAFT.id)).audit) == 2  # type: ignore[union-attr]


async def test_only_one_of_two_concurrent_decisions_wins(store: Store) -> None:
    repository = ProposalRepository(store.database)
    await repository.add(DRAFT, actor="agent:architect")
    reject = Transition(
        "reject",
        frozenset({ProposalStatus.PROPOSED}),
        ProposalStatus.REJECTED,
        "cli",
        "no",
        values={"rejection_reason": "no"},
    )
    outcomes = await asyncio.gather(
        repository.transition(DRAFT.id, APPROVE),
        repository.transition(DRAFT.id, reject),
        return_exceptions=True,
    )
    assert sum(isinstance(o, InvalidTransitionError) for o in outcomes) == 1
    stored = await repository.get(DRAFT.id)
    assert stored is not None
    assert len(stored.audit) == 2


async def test_filters_by_status_entity_and_conversation(store: Store) -> None:
    repository = ProposalRepository(store.database)
    conversation = await store.conversations.create("c")
    await repository.add(draft("a00000000001"), actor="x", conversation_id=conversation.id)
    await repository.add(draft("a00000000002", "light.garden"), actor="x")
    await repository.transition("a00000000002", APPROVE)
    approved, total = await repository.list(ProposalFilter(status=ProposalStatus.APPROVED))
    assert ([p.id for p in approved], total) == (["a00000000002"], 1)
    garden, _ = await repository.list(ProposalFilter(entity_id="light.garden"))
    assert [p.id for p in garden] == ["a00000000002"]
    mine, _ = await repository.list(ProposalFilter(conversation_id=conversation.id))
    assert [p.id for p in mine] == ["a00000000001"]
    page, total = await repository.list(limit=1)
    assert (len(page), total) == (1, 2)


async def test_a_proposal_outlives_its_conversation(store: Store) -> None:
    repository = ProposalRepository(store.database)
    conversation = await store.conversations.create("c")
    await repository.add(DRAFT, actor="x", conversation_id=conversation.id)
    await store.conversations.delete(conversation.id)
    stored = await repository.get(DRAFT.id)
    assert stored is not None
    assert stored.conversation_id is None


async def test_a_conversation_has_at_most_one_open_question(store: Store) -> None:
    repository = ProposalRepository(store.database)
    conversation = await store.conversations.create("c")
    first = await repository.add_request(
        conversation_id=conversation.id,
        run_id=None,
        agent="architect",
        task_id="t1",
        context_id="c1",
        proposal_ids=["a"],
        question="Shall I?",
    )
    second = await repository.add_request(
        conversation_id=conversation.id,
        run_id=None,
        agent="architect",
        task_id="t1",
        context_id="c1",
        proposal_ids=["a"],
        question="Shall I, really?",
    )
    assert await repository.open_request(conversation.id) == second
    assert not await repository.close_request(first.id, RequestStatus.ANSWERED, None)
    assert await repository.close_request(second.id, RequestStatus.ANSWERED, None)
    assert not await repository.close_request(second.id, RequestStatus.ANSWERED, None)
    assert await repository.open_request(conversation.id) is None
