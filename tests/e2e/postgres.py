"""A fresh PostgreSQL database for a mesh under test, and direct queries into it.

The database is created on TEST_DATABASE_URL's server (`CREATE DATABASE aether_e2e_<random>`) and
dropped afterwards, so concurrent runs never collide. Without TEST_DATABASE_URL, or with the server
unreachable, the tests are skipped with the reason, except under CI=true, where they fail: CI must
never silently skip them.

The roles migrate the database themselves at start-up (under an advisory lock); the tests read it
with their own engine, around the services, to check what was stored.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import URL, make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"


def postgres_admin_url() -> URL:
    """TEST_DATABASE_URL, checked reachable; skips (fails under CI) when it is not usable."""
    if not TEST_DATABASE_URL:
        _skip_or_fail("TEST_DATABASE_URL is not set, so the PostgreSQL mesh cannot run")
    url = make_url(TEST_DATABASE_URL)
    try:
        asyncio.run(_admin(url, "SELECT 1"))
    except Exception as exc:  # whatever the driver raises, the server is not usable
        _skip_or_fail(f"PostgreSQL at TEST_DATABASE_URL is unreachable: {exc!r}")
    return url


def _skip_or_fail(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI must run these tests", pytrace=False)
    pytest.skip(reason)


@contextmanager
def fresh_database(admin_url: URL, prefix: str = "aether_e2e") -> Iterator[URL]:
    """A new, empty database on the admin URL's server; dropped (connections and all) on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name)
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def render(url: URL) -> str:
    """The URL as a DATABASE_URL value (with its password, if any)."""
    return url.render_as_string(hide_password=False)


def via(url: URL, host: str, port: int) -> URL:
    """The same database reached at another address (e.g. through a TCP proxy)."""
    return url.set(host=host, port=port)


async def _admin(url: URL, sql: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(sql))
    finally:
        await engine.dispose()


class Inspector:
    """Synchronous read-only queries straight into the mesh's database (psycopg-free: the
    asyncpg URL is driven through SQLAlchemy's async engine in a private event loop)."""

    def __init__(self, url: URL) -> None:
        self._url = url

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        return asyncio.run(self._rows(sql, params))

    def scalar(self, sql: str, **params: Any) -> Any:
        rows = self.rows(sql, **params)
        return next(iter(rows[0].values())) if rows else None

    async def _rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        engine = create_async_engine(self._url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(text(sql), params)
                return [dict(row._mapping) for row in result]
        finally:
            await engine.dispose()
