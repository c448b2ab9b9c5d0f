"""Database fixtures: every store test runs on SQLite and, when reachable, on PostgreSQL.

PostgreSQL comes from TEST_DATABASE_URL (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test).
Each test session creates its own `aether_test_<random>` databases on that server and drops
them at the end, so runs are repeatable and never touch the named database's contents.
Without TEST_DATABASE_URL the PostgreSQL variants are skipped, except in CI (CI=true), where
a missing or unreachable server fails the run: CI must never silently skip them.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from aether.store import Store, create_engine, upgrade_database_sync
from aether.store.models import Base

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"


class SQLiteServer:
    """Fresh databases are new files in a temporary directory."""

    name = "sqlite"

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    async def create_database(self) -> str:
        return f"sqlite+aiosqlite:///{self._directory / uuid.uuid4().hex}.db"

    def drop_all(self) -> None:
        """Nothing to do: pytest removes the temporary directory."""


class PostgresServer:
    """Fresh databases are `CREATE DATABASE aether_test_<random>` on TEST_DATABASE_URL's server."""

    name = "postgresql"

    def __init__(self, url: str) -> None:
        self._url = make_url(url)
        self._created: list[str] = []

    async def check(self) -> None:
        await self._admin("SELECT 1")

    async def create_database(self) -> str:
        name = f"aether_test_{uuid.uuid4().hex[:12]}"
        await self._admin(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return self._url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in self._created:
            asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    async def _admin(self, sql: str) -> None:
        # CREATE/DROP DATABASE cannot run inside a transaction.
        engine = create_async_engine(self._url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                await connection.execute(text(sql))
        finally:
            await engine.dispose()


DatabaseServer = SQLiteServer | PostgresServer


def _postgres_server() -> PostgresServer:
    if not TEST_DATABASE_URL:
        reason = "TEST_DATABASE_URL is not set, so the PostgreSQL variants cannot run"
        if IN_CI:
            pytest.fail(f"{reason}; CI must run them", pytrace=False)
        pytest.skip(reason)
    server = PostgresServer(TEST_DATABASE_URL)
    try:
        asyncio.run(server.check())
    except Exception as exc:  # whatever the driver raises, the server is not usable
        reason = f"PostgreSQL at TEST_DATABASE_URL is unreachable: {exc!r}"
        if IN_CI:
            pytest.fail(f"{reason}; CI must run the PostgreSQL variants", pytrace=False)
        pytest.skip(reason)
    return server


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseServer]:
    """Where fresh test databases come from; every test using it runs once per backend."""
    server: DatabaseServer
    if request.param == "sqlite":
        server = SQLiteServer(tmp_path_factory.mktemp("sqlite"))
    else:
        server = _postgres_server()
    yield server
    server.drop_all()


@pytest.fixture(scope="session")
def migrated_database_url(database_server: DatabaseServer) -> str:
    """One database per backend and session, migrated to head; `store` empties it per test."""
    url = asyncio.run(database_server.create_database())
    upgrade_database_sync(url)
    return url


@pytest.fixture
async def empty_database_url(database_server: DatabaseServer) -> str:
    """A database of its own with no tables, for tests of the migrations themselves."""
    return await database_server.create_database()


@pytest.fixture
async def store(migrated_database_url: str) -> AsyncIterator[Store]:
    """A Store on the migrated database, emptied first so each test sees only its own rows."""
    store = Store(create_engine(migrated_database_url))
    async with store.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(table.delete())
    yield store
    await store.close()
