"""Chat turns (`store.turns`) and routing with its event, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from aether.store import (
    ConversationNotFoundError,
    MessageRole,
    MessageStatus,
    RunNotFoundError,
    RunStatus,
    Store,
    create_engine,
)
from aether.store import turns as turns_module
from aether.store.models import Base


async def row_counts(store: Store) -> dict[str, int]:
    async with store.engine.connect() as connection:
        return {
            table.name: await connection.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


async def open_new_turn(store: Store, question: str = "Why is my baseload high?") -> str:
    """A fresh conversation with one running run; returns the run's id."""
    _, run, _ = await store.turns.open_turn(
        None, title="Baseload", question=question, agent_requested="auto", model="aether"
    )
    return run.id


async def test_open_turn_starts_a_conversation_with_the_question_and_a_running_run(
    store: Store, migrated_database_url: str
) -> None:
    conversation, run, message = await store.turns.open_turn(
        None,
        title="Baseload",
        question="Why is my baseload high?",
        agent_requested="architect",
        model="aether",
    )

    assert conversation.title == "Baseload"
    assert (run.conversation_id, run.status, run.agent_requested, run.model) == (
        conversation.id,
        RunStatus.RUNNING,
        "architect",
        "aether",
    )
    assert (message.conversation_id, message.role, message.content, message.run_id) == (
        conversation.id,
        MessageRole.USER,
        "Why is my baseload high?",
        run.id,
    )
    elsewhere = Store(create_engine(migrated_database_url))  # committed: another replica sees it
    try:
        assert await elsewhere.conversations.get(conversation.id) == conversation
        assert await elsewhere.runs.get(run.id) == run
        assert await elsewhere.conversations.messages(conversation.id) == [message]
    finally:
        await elsewhere.close()


async def test_open_turn_in_an_existing_conversation_appends_and_touches_it(
    store: Store,
) -> None:
    earlier = await store.conversations.create("Baseload")
    first = await store.conversations.add_message(earlier.id, "user", "first question")
    other = await store.conversations.create("more recent")

    conversation, run, message = await store.turns.open_turn(
        earlier.id, title="ignored", question="follow-up", agent_requested="auto", model="aether"
    )

    assert (conversation.id, conversation.title) == (earlier.id, "Baseload")
    assert conversation.updated_at == message.created_at > other.updated_at
    assert run.conversation_id == earlier.id
    assert await store.conversations.messages(earlier.id) == [first, message]
    assert [item.id for item in (await store.conversations.list())[0]] == [earlier.id, other.id]


async def test_open_turn_in_a_missing_conversation_stores_nothing(store: Store) -> None:
    with pytest.raises(ConversationNotFoundError):
        await store.turns.open_turn(
            "no-such-id", title=None, question="hello", agent_requested="auto", model="aether"
        )

    assert set((await row_counts(store)).values()) == {0}


async def test_open_turn_is_atomic_when_a_later_step_fails(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk full, say")

    monkeypatch.setattr(turns_module, "insert_message", fail)  # after conversation and run

    with pytest.raises(RuntimeError, match="disk full"):
        await open_new_turn(store)

    assert set((await row_counts(store)).values()) == {0}


async def test_finish_turn_stores_the_reply_and_finishes_the_run_together(
    store: Store,
) -> None:
    conversation, run, question = await store.turns.open_turn(
        None, title="t", question="hello", agent_requested="auto", model="aether"
    )

    finished, reply = await store.turns.finish_turn(
        run.id,
        "completed",
        text="Hello! Ask me about your energy use.",
        message_status="complete",
        prompt_tokens=12,
        completion_tokens=9,
    )

    assert (finished.status, finished.prompt_tokens, finished.completion_tokens) == (
        RunStatus.COMPLETED,
        12,
        9,
    )
    assert finished.finished_at is not None
    assert reply is not None
    assert (reply.role, reply.status, reply.run_id, reply.conversation_id) == (
        MessageRole.ASSISTANT,
        MessageStatus.COMPLETE,
        run.id,
        conversation.id,
    )
    assert reply.created_at == finished.finished_at
    assert await store.runs.get(run.id) == finished
    assert await store.conversations.messages(conversation.id) == [question, reply]
    stored = await store.conversations.get(conversation.id)
    assert stored is not None
    assert stored.updated_at == reply.created_at


async def test_finish_turn_records_failures_and_may_store_no_reply(store: Store) -> None:
    failed_run = await open_new_turn(store)
    silent_run = await open_new_turn(store)

    failed, reply = await store.turns.finish_turn(
        failed_run, "failed", text="partial", message_status="failed", error="agent unreachable"
    )
    cancelled, nothing = await store.turns.finish_turn(
        silent_run, "cancelled", text=None, message_status="partial"
    )

    assert (failed.status, failed.error) == (RunStatus.FAILED, "agent unreachable")
    assert reply is not None
    assert (reply.status, reply.error, reply.content) == (
        MessageStatus.FAILED,
        "agent unreachable",
        "partial",
    )
    assert (cancelled.status, nothing) == (RunStatus.CANCELLED, None)
    assert len(await store.conversations.messages(cancelled.conversation_id)) == 1


async def test_the_first_finish_of_a_turn_wins_and_a_late_reply_is_dropped(
    store: Store,
) -> None:
    run_id = await open_new_turn(store)
    cancelled, partial = await store.turns.finish_turn(
        run_id, "cancelled", text="Your base", message_status="partial", error="cancelled"
    )

    again, late = await store.turns.finish_turn(
        run_id, "completed", text="Your baseload is 240 W.", message_status="complete"
    )

    assert (again, late) == (cancelled, None)
    assert [m.content for m in await store.conversations.messages(again.conversation_id)] == [
        "Why is my baseload high?",
        "Your base",
    ]
    assert partial is not None


async def test_finish_turn_validates_before_writing_and_needs_the_run(store: Store) -> None:
    run_id = await open_new_turn(store)
    with pytest.raises(ValueError, match="final status"):
        await store.turns.finish_turn(run_id, "running", text="x", message_status="complete")
    with pytest.raises(ValueError, match="done"):
        await store.turns.finish_turn(run_id, "completed", text="x", message_status="done")
    with pytest.raises(RunNotFoundError):
        await store.turns.finish_turn("no-such-id", "failed", text="x", message_status="failed")

    run = await store.runs.get(run_id)
    assert run is not None
    assert run.status is RunStatus.RUNNING


async def test_record_routing_stores_the_decision_with_its_event(store: Store) -> None:
    run_id = await open_new_turn(store)

    run, event = await store.runs.record_routing(
        run_id, "architect", "asks about usage", 0.87, "status", {"stage": "routing"}
    )
    later = await store.runs.append_event(run_id, "final", {"text": "done"})

    assert (run.agent, run.routing_reason, run.routing_confidence) == (
        "architect",
        "asks about usage",
        0.87,
    )
    assert (event.seq, event.type, event.payload) == (1, "status", {"stage": "routing"})
    assert await store.runs.get(run_id) == run
    assert await store.runs.events(run_id) == [event, later]
    assert later.seq == 2
    with pytest.raises(RunNotFoundError):
        await store.runs.record_routing("no-such-id", "architect", None, None, "status", {})


async def test_concurrent_turns_from_two_processes_keep_every_guarantee(
    store: Store, migrated_database_url: str
) -> None:
    """Whole turns interleaved across two stores (two gateway replicas, say)."""
    conversation = await store.conversations.create("busy")
    replica = Store(create_engine(migrated_database_url))

    async def turn(writer: Store, index: int) -> str:
        _, run, _ = await writer.turns.open_turn(
            conversation.id,
            title=None,
            question=f"q{index}",
            agent_requested="auto",
            model="aether",
        )
        await writer.runs.record_routing(run.id, "architect", None, 1.0, "status", {})
        for step in range(3):
            await writer.runs.append_event(run.id, "delta", {"step": step})
        await writer.turns.finish_turn(
            run.id, "completed", text=f"a{index}", message_status="complete"
        )
        return run.id

    try:
        run_ids = await asyncio.gather(
            *(turn(writer, index) for index in range(10) for writer in (store, replica))
        )
    finally:
        await replica.close()

    for run_id in run_ids:
        run = await store.runs.get(run_id)
        assert run is not None
        assert run.status is RunStatus.COMPLETED
        assert [event.seq for event in await store.runs.events(run_id)] == [1, 2, 3, 4]
    messages = await store.conversations.messages(conversation.id)
    assert len(messages) == 40
    assert {m.run_id for m in messages} == set(run_ids)
