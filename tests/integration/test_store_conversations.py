"""Conversations and messages, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from aether.store import (
    ConversationNotFoundError,
    MessageRole,
    MessageStatus,
    Store,
    create_engine,
)


async def test_create_and_get_round_trip(store: Store) -> None:
    conversation = await store.conversations.create("Why is my baseload high?")

    assert conversation.title == "Why is my baseload high?"
    assert conversation.created_at == conversation.updated_at
    assert await store.conversations.get(conversation.id) == conversation
    assert await store.conversations.get("no-such-id") is None


async def test_datetimes_come_back_timezone_aware_in_utc(store: Store) -> None:
    conversation = await store.conversations.create()
    berlin_noon = datetime(2024, 7, 1, 12, 0, 0, 123456, tzinfo=ZoneInfo("Europe/Berlin"))

    await store.conversations.touch(conversation.id, berlin_noon)

    stored = await store.conversations.get(conversation.id)
    assert stored is not None
    assert stored.updated_at == berlin_noon
    assert stored.updated_at.utcoffset() == timedelta(0)
    assert stored.created_at.tzinfo is not None
    assert abs(stored.created_at - datetime.now(UTC)) < timedelta(minutes=1)


async def test_naive_datetimes_are_rejected(store: Store) -> None:
    conversation = await store.conversations.create()
    with pytest.raises(ValueError, match="naive"):
        await store.conversations.touch(conversation.id, datetime(2024, 7, 1, 12, 0))


async def test_messages_come_back_in_order_and_only_for_their_conversation(
    store: Store,
) -> None:
    conversation = await store.conversations.create()
    other = await store.conversations.create()
    await store.conversations.add_message(other.id, "user", "not mine")
    contents = ["system prompt", "question", "answer", "follow-up"]
    roles = ["system", "user", "assistant", "user"]
    for role, content in zip(roles, contents, strict=True):
        await store.conversations.add_message(conversation.id, role, content)

    messages = await store.conversations.messages(conversation.id)

    assert [message.content for message in messages] == contents
    assert [message.role for message in messages] == [MessageRole(role) for role in roles]
    assert all(message.status is MessageStatus.COMPLETE for message in messages)
    assert all(message.created_at.tzinfo is not None for message in messages)
    assert await store.conversations.messages("no-such-id") == []


async def test_add_message_is_committed_when_it_returns(
    store: Store, migrated_database_url: str
) -> None:
    conversation = await store.conversations.create()
    message = await store.conversations.add_message(conversation.id, "user", "hello")

    elsewhere = Store(create_engine(migrated_database_url))  # another replica, say
    try:
        assert await elsewhere.conversations.messages(conversation.id) == [message]
    finally:
        await elsewhere.close()


async def test_failed_assistant_message_keeps_status_error_and_run(store: Store) -> None:
    conversation = await store.conversations.create()
    run = await store.runs.start(conversation.id, "auto", "aether")

    message = await store.conversations.add_message(
        conversation.id, "assistant", "partial ans", run_id=run.id, status="failed", error="boom"
    )

    assert (message.status, message.error, message.run_id) == (
        MessageStatus.FAILED,
        "boom",
        run.id,
    )
    assert await store.conversations.messages(conversation.id) == [message]


async def test_add_message_to_a_missing_conversation_raises(store: Store) -> None:
    with pytest.raises(ConversationNotFoundError):
        await store.conversations.add_message("no-such-id", "user", "hello")


async def test_add_message_rejects_unknown_roles_and_statuses(store: Store) -> None:
    conversation = await store.conversations.create()
    with pytest.raises(ValueError, match="robot"):
        await store.conversations.add_message(conversation.id, "robot", "beep")
    with pytest.raises(ValueError, match="done"):
        await store.conversations.add_message(conversation.id, "user", "hi", status="done")


async def test_list_pages_newest_activity_first_with_totals(store: Store) -> None:
    created = [await store.conversations.create(f"c{index}") for index in range(5)]
    await store.conversations.add_message(created[0].id, "user", "bumps c0 to the top")
    newest_first = [created[0], *reversed(created[1:])]

    pages = [await store.conversations.list(limit=2, offset=offset) for offset in (0, 2, 4, 6)]

    assert [total for _, total in pages] == [5, 5, 5, 5]
    assert [[item.id for item in items] for items, _ in pages] == [
        [newest_first[0].id, newest_first[1].id],
        [newest_first[2].id, newest_first[3].id],
        [newest_first[4].id],
        [],
    ]


async def test_list_rejects_nonsense_paging(store: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        await store.conversations.list(limit=0)
    with pytest.raises(ValueError, match="offset"):
        await store.conversations.list(offset=-1)


async def test_touch_of_a_missing_conversation_raises(store: Store) -> None:
    with pytest.raises(ConversationNotFoundError):
        await store.conversations.touch("no-such-id")


async def test_delete_cascades_to_messages_runs_and_events(store: Store) -> None:
    doomed = await store.conversations.create("doomed")
    kept = await store.conversations.create("kept")
    for conversation in (doomed, kept):
        await store.conversations.add_message(conversation.id, "user", "question")
        run = await store.runs.start(conversation.id, "auto", "aether")
        await store.runs.append_event(run.id, "status", {"state": "working"})
    doomed_run = (await store.runs.start(doomed.id, "architect", "aether")).id

    assert await store.conversations.delete(doomed.id) is True

    assert await store.conversations.get(doomed.id) is None
    assert await store.conversations.messages(doomed.id) == []
    assert await store.runs.get(doomed_run) is None
    assert await store.runs.events(doomed_run) == []
    assert await store.conversations.delete(doomed.id) is False
    assert len(await store.conversations.messages(kept.id)) == 1
    assert await store.conversations.list() == ([await store.conversations.get(kept.id)], 1)
