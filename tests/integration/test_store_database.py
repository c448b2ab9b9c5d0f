"""How transactions run on SQLite: in worker threads, writers queued on the process's lock."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from aether.store import Store, create_engine, db, upgrade_database
from aether.store.db import SQLiteDatabase

BLOCKED_TOO_LONG = 10.0  # seconds; only reached when the behaviour under test is broken


@pytest.fixture
async def sqlite_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Store]:
    """A store whose connections give up at once on a locked database (no busy handler).

    Writers of one process must then never meet SQLite's lock: the write lock queues them.
    """
    url = f"sqlite+aiosqlite:///{tmp_path / 'aether.db'}"
    await upgrade_database(url)
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 0)
    store = Store(create_engine(url))
    assert isinstance(store.database, SQLiteDatabase)
    yield store
    await store.close()


def pragma(name: str) -> object:
    def read(connection: Connection) -> object:
        return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

    return read


async def test_worker_connections_use_wal_and_foreign_keys(tmp_path: Path) -> None:
    store = Store(create_engine(f"sqlite:///{tmp_path / 'aether.db'}"))
    try:
        assert await store.database.read(pragma("journal_mode")) == "wal"
        assert await store.database.read(pragma("foreign_keys")) == 1
        assert await store.database.read(pragma("busy_timeout")) == db.SQLITE_BUSY_TIMEOUT_MS
        assert await store.database.read(pragma("synchronous")) == 1  # NORMAL
    finally:
        await store.close()


async def test_concurrent_writers_queue_on_the_lock_not_on_sqlite(sqlite_store: Store) -> None:
    conversation = await sqlite_store.conversations.create()

    def slow_write(connection: Connection) -> None:
        time.sleep(0.005)  # hold SQLite's write lock a while, as a bigger transaction would
        connection.execute(text("UPDATE conversations SET title = 'x'"))

    # Without the lock, these would fail with "database is locked" (the busy timeout is 0).
    await asyncio.gather(*(sqlite_store.database.write(slow_write) for _ in range(20)))
    await asyncio.gather(
        *(sqlite_store.runs.start(conversation.id, "auto", "aether") for _ in range(20)),
        *(sqlite_store.conversations.touch(conversation.id) for _ in range(20)),
    )


async def test_reads_proceed_while_a_write_is_in_progress(sqlite_store: Store) -> None:
    conversation = await sqlite_store.conversations.create("visible")
    writing, release = threading.Event(), threading.Event()

    def long_write(connection: Connection) -> None:
        connection.execute(text("UPDATE conversations SET title = 'not yet committed'"))
        writing.set()
        release.wait(BLOCKED_TOO_LONG)

    write = asyncio.create_task(sqlite_store.database.write(long_write))
    try:
        assert await asyncio.to_thread(writing.wait, BLOCKED_TOO_LONG)
        read = await asyncio.wait_for(sqlite_store.conversations.get(conversation.id), 5)
        assert read == conversation
    finally:
        release.set()
        await write


async def test_a_cancelled_writer_holds_the_lock_until_its_transaction_ends(
    sqlite_store: Store,
) -> None:
    conversation = await sqlite_store.conversations.create()
    writing, release = threading.Event(), threading.Event()

    def long_write(connection: Connection) -> None:
        connection.execute(text("UPDATE conversations SET title = 'first'"))
        writing.set()
        release.wait(BLOCKED_TOO_LONG)

    write = asyncio.create_task(sqlite_store.database.write(long_write))
    assert await asyncio.to_thread(writing.wait, BLOCKED_TOO_LONG)
    write.cancel()
    # The next writer must wait for the lock; if it got through now, SQLite would refuse it.
    touch = asyncio.create_task(sqlite_store.conversations.touch(conversation.id))
    await asyncio.sleep(0.05)
    assert not touch.done()

    release.set()
    await touch
    with pytest.raises(asyncio.CancelledError):
        await write
    stored = await sqlite_store.conversations.get(conversation.id)
    assert stored is not None
    assert stored.title == "first"  # the cancelled caller's transaction still committed
