"""Idempotency keys bound in the turn's own transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Table, func, select, update

from aether.store import OpenedTurn, RunStatus, Store
from aether.store.idempotency import (
    KEY_LIFETIME,
    IdempotencyKeyTaken,
    KeyClaim,
    KeyOutcome,
    idempotency_table,
)
from aether.store.models import run_table
from aether.store.types import utcnow

CLAIM = KeyClaim(caller="api-key-0123456789ab", key="retry-1", fingerprint="f" * 64)


async def open_keyed_turn(store: Store, claim: KeyClaim = CLAIM) -> OpenedTurn:
    return await store.turns.open_turn(
        None,
        title="Baseload",
        question="Why is my baseload high?",
        agent_requested="auto",
        model="aether",
        idempotency=claim,
    )


async def count(store: Store, table: Table) -> int:
    async with store.engine.connect() as connection:
        return await connection.scalar(select(func.count()).select_from(table)) or 0


async def test_a_key_is_bound_to_the_run_that_stored_the_question(store: Store) -> None:
    _, run, _ = await open_keyed_turn(store)

    record = await store.idempotency.get(CLAIM.caller, CLAIM.key)

    assert record is not None
    assert (record.run_id, record.fingerprint, record.finish_reason, record.error_code) == (
        run.id,
        CLAIM.fingerprint,
        None,
        None,
    )


async def test_a_used_key_stores_nothing_and_names_the_first_run(store: Store) -> None:
    _, first, _ = await open_keyed_turn(store)

    with pytest.raises(IdempotencyKeyTaken) as taken:
        await open_keyed_turn(store, CLAIM._replace(fingerprint="other"))

    assert taken.value.record.run_id == first.id
    assert taken.value.record.fingerprint == CLAIM.fingerprint
    assert await count(store, run_table) == 1


async def test_concurrent_duplicates_open_exactly_one_run(store: Store) -> None:
    results = await asyncio.gather(
        *(open_keyed_turn(store) for _ in range(8)), return_exceptions=True
    )

    opened = [result for result in results if isinstance(result, OpenedTurn)]
    refused = [result for result in results if isinstance(result, IdempotencyKeyTaken)]
    assert len(opened) == 1, results
    assert len(refused) == 7, results
    assert {error.record.run_id for error in refused} == {opened[0].run.id}
    assert await count(store, run_table) == 1


async def test_keys_are_scoped_to_their_caller(store: Store) -> None:
    _, mine, _ = await open_keyed_turn(store)
    _, theirs, _ = await open_keyed_turn(store, CLAIM._replace(caller="anonymous"))

    assert mine.id != theirs.id


async def test_finishing_the_turn_records_how_it_ended_on_its_key(store: Store) -> None:
    _, run, _ = await open_keyed_turn(store)

    await store.turns.finish_turn(
        run.id,
        RunStatus.FAILED,
        text="partial",
        message_status="failed",
        error="The analysis failed.",
        idempotency=KeyOutcome(error_code="analysis_failed"),
    )

    record = await store.idempotency.get(CLAIM.caller, CLAIM.key)
    assert record is not None
    assert (record.finish_reason, record.error_code) == (None, "analysis_failed")


async def test_a_released_key_lets_the_retry_run(store: Store) -> None:
    _, first, _ = await open_keyed_turn(store)
    await store.turns.finish_turn(
        first.id,
        RunStatus.FAILED,
        text=None,
        message_status="failed",
        error="The architect is unreachable.",
        idempotency=KeyOutcome(release=True),
    )

    _, retry, _ = await open_keyed_turn(store)

    record = await store.idempotency.get(CLAIM.caller, CLAIM.key)
    assert record is not None
    assert record.run_id == retry.id != first.id
    assert (await store.runs.get(first.id)).status is RunStatus.FAILED  # type: ignore[union-attr]


async def test_a_finished_run_keeps_its_first_outcome_on_the_key(store: Store) -> None:
    _, run, _ = await open_keyed_turn(store)
    await store.turns.finish_turn(
        run.id,
        RunStatus.COMPLETED,
        text="240 W",
        message_status="complete",
        idempotency=KeyOutcome(finish_reason="length"),
    )

    await store.turns.finish_turn(
        run.id,
        RunStatus.FAILED,
        text=None,
        message_status="failed",
        idempotency=KeyOutcome(release=True),
    )

    record = await store.idempotency.get(CLAIM.caller, CLAIM.key)
    assert record is not None
    assert record.finish_reason == "length"


async def test_an_expired_key_is_claimed_afresh(store: Store) -> None:
    _, first, _ = await open_keyed_turn(store)
    async with store.engine.begin() as connection:
        await connection.execute(
            update(idempotency_table).values(created_at=utcnow() - KEY_LIFETIME)
        )
    assert await store.idempotency.get(CLAIM.caller, CLAIM.key) is None

    _, second, _ = await open_keyed_turn(store)

    record = await store.idempotency.get(CLAIM.caller, CLAIM.key)
    assert record is not None
    assert record.run_id == second.id != first.id


async def test_deleting_the_conversation_forgets_its_keys(store: Store) -> None:
    conversation, _, _ = await open_keyed_turn(store)

    await store.conversations.delete(conversation.id)

    assert await count(store, idempotency_table) == 0
    await open_keyed_turn(store)
