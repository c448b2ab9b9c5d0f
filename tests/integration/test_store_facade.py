"""The Store facade: opening from a URL, health pings, and the SQLite connection settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from aether.store import Store, async_url, create_engine
from aether.store.db import DatabaseUnavailableError


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///var/aether.db", "sqlite+aiosqlite"),
        ("postgresql://u:p@db:5432/aether", "postgresql+asyncpg"),
        ("postgres://u:p@db:5432/aether", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u:p@db:5432/aether", "postgresql+asyncpg"),
    ],
)
def test_plain_urls_get_the_asyncio_driver(url: str, driver: str) -> None:
    assert async_url(url).drivername == driver


async def test_open_creates_the_sqlite_file_and_its_directories(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "aether.db"

    store = await Store.open(f"sqlite:///{path}")
    try:
        await store.ping()
        conversation = await store.conversations.create("first")
        assert await store.conversations.get(conversation.id) == conversation
    finally:
        await store.close()
    assert path.is_file()


async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'aether.db'}")
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await connection.scalar(text("PRAGMA foreign_keys")) == 1
            assert await connection.scalar(text("PRAGMA busy_timeout")) >= 1000
    finally:
        await engine.dispose()


async def test_ping_passes_on_a_live_database(store: Store) -> None:
    await store.ping()


async def test_ping_raises_when_the_database_is_unreachable() -> None:
    store = Store(create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/aether"))
    try:
        with pytest.raises(DatabaseUnavailableError) as raised:
            await store.ping()
        assert isinstance(raised.value.__cause__, ConnectionRefusedError)
    finally:
        await store.close()
