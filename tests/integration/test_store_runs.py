"""Runs and their events, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from aether.store import (
    ConversationNotFoundError,
    RunNotFoundError,
    RunStatus,
    Store,
    create_engine,
)


async def test_run_lifecycle(store: Store) -> None:
    conversation = await store.conversations.create()

    run = await store.runs.start(conversation.id, "auto", "aether")
    assert (run.status, run.agent_requested, run.model) == (RunStatus.RUNNING, "auto", "aether")
    assert (run.agent, run.finished_at, run.error) == (None, None, None)
    assert run.created_at.tzinfo is not None

    routed = await store.runs.set_routing(run.id, "architect", "asks about usage", 0.87)
    assert (routed.agent, routed.routing_reason, routed.routing_confidence) == (
        "architect",
        "asks about usage",
        0.87,
    )

    finished = await store.runs.finish(run.id, "completed", prompt_tokens=120, completion_tokens=48)
    assert finished.status is RunStatus.COMPLETED
    assert (finished.prompt_tokens, finished.completion_tokens) == (120, 48)
    assert finished.finished_at is not None
    assert finished.finished_at >= finished.created_at
    assert finished.agent == "architect"
    assert await store.runs.get(run.id) == finished


async def test_failed_run_records_its_error(store: Store) -> None:
    conversation = await store.conversations.create()
    run = await store.runs.start(conversation.id, "ds-orchestrator", "aether")

    failed = await store.runs.finish(run.id, RunStatus.FAILED, error="analysts unreachable")

    assert (failed.status, failed.error) == (RunStatus.FAILED, "analysts unreachable")
    assert (failed.prompt_tokens, failed.completion_tokens) == (None, None)


async def test_the_first_final_status_wins(store: Store) -> None:
    conversation = await store.conversations.create()
    run = await store.runs.start(conversation.id, "auto", "aether")
    cancelled = await store.runs.finish(run.id, "cancelled")

    again = await store.runs.finish(run.id, "completed", prompt_tokens=1, completion_tokens=1)

    assert again == cancelled
    assert again.status is RunStatus.CANCELLED


async def test_finish_needs_a_final_status(store: Store) -> None:
    conversation = await store.conversations.create()
    run = await store.runs.start(conversation.id, "auto", "aether")
    with pytest.raises(ValueError, match="final status"):
        await store.runs.finish(run.id, "running")
    with pytest.raises(ValueError, match="exploded"):
        await store.runs.finish(run.id, "exploded")


async def test_missing_conversation_or_run_raises(store: Store) -> None:
    with pytest.raises(ConversationNotFoundError):
        await store.runs.start("no-such-id", "auto", "aether")
    with pytest.raises(RunNotFoundError):
        await store.runs.set_routing("no-such-id", "architect", None, None)
    with pytest.raises(RunNotFoundError):
        await store.runs.append_event("no-such-id", "status", {})
    with pytest.raises(RunNotFoundError):
        await store.runs.finish("no-such-id", "failed")
    assert await store.runs.get("no-such-id") is None


async def test_events_keep_payloads_and_page_by_cursor(store: Store) -> None:
    conversation = await store.conversations.create()
    run = await store.runs.start(conversation.id, "auto", "aether")
    payloads = [
        {"state": "working"},
        {"text": "Grundlast 240 W — 18 % über dem Median"},
        {"finding": {"kWh": [1.5, 2.25], "ok": True, "note": None}},
        {},
    ]
    appended = [await store.runs.append_event(run.id, "delta", payload) for payload in payloads]

    assert [event.seq for event in appended] == [1, 2, 3, 4]
    assert await store.runs.events(run.id) == appended
    assert [event.payload for event in await store.runs.events(run.id)] == payloads
    assert await store.runs.events(run.id, after_id=appended[1].id) == appended[2:]
    assert await store.runs.events(run.id, after_id=appended[0].id, limit=2) == appended[1:3]
    assert await store.runs.events(run.id, after_id=appended[-1].id) == []
    assert all(event.created_at.tzinfo is not None for event in appended)


async def test_concurrent_appends_get_gapless_unique_seqs_in_id_order(
    store: Store, migrated_database_url: str
) -> None:
    conversation = await store.conversations.create()
    run = await store.runs.start(conversation.id, "auto", "aether")
    other_run = await store.runs.start(conversation.id, "auto", "aether")
    replica = Store(create_engine(migrated_database_url))  # a second gateway process, say
    try:
        appends = [
            writer.runs.append_event(run_id, "delta", {"index": index})
            for index in range(30)
            for writer in (store, replica)
            for run_id in (run.id, other_run.id)
        ]
        await asyncio.gather(*appends)
    finally:
        await replica.close()

    for run_id in (run.id, other_run.id):
        events = await store.runs.events(run_id)
        assert [event.seq for event in events] == list(range(1, 61))
        assert [event.id for event in events] == sorted(event.id for event in events)
