"""Apply the Alembic migrations programmatically, safely from several processes at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import URL, Connection, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from aether.store.db import create_engine

PACKAGE_DIR = Path(__file__).resolve().parent
# Not `alembic_version`: the database may be shared with other Alembic users (MLflow, ...).
VERSION_TABLE = "aether_alembic_version"
# Arbitrary but fixed: every Aether process migrating one PostgreSQL database takes this lock.
_PG_MIGRATION_LOCK = 0x4165_7468_6572  # "Aether"


def alembic_config(connection: Connection | None = None) -> Config:
    """The packaged Alembic configuration, optionally bound to an open connection."""
    config = Config(PACKAGE_DIR / "alembic.ini")
    config.set_main_option("script_location", str(PACKAGE_DIR / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade_database(url: str | URL, revision: str = "head") -> None:
    """Run `alembic upgrade <revision>`; a no-op when the database is already there."""
    await run_locked(url, partial(_upgrade, revision=revision))


def upgrade_database_sync(url: str | URL, revision: str = "head") -> None:
    """`upgrade_database` for code without an event loop (scripts, CLI, test setup)."""
    asyncio.run(upgrade_database(url, revision))


async def run_locked(url: str | URL, work: Callable[[Connection], None]) -> None:
    """Run `work` in one transaction that no other migrating process can interleave with.

    PostgreSQL: a transaction-scoped advisory lock; the second process waits, then finds the
    schema at head. SQLite: the engine begins with `BEGIN IMMEDIATE`, which takes the file's
    write lock before Alembic reads the version table, and its DDL is transactional.
    """
    engine = create_engine(url, foreign_keys=False)
    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(select(func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
            await connection.run_sync(work)
            if connection.dialect.name == "sqlite":
                await _check_foreign_keys(connection)
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


async def _check_foreign_keys(connection: AsyncConnection) -> None:
    """Refuse to commit a SQLite migration that left dangling references behind."""
    violations = (await connection.execute(text("PRAGMA foreign_key_check"))).all()
    if violations:
        raise RuntimeError(f"migration left rows violating foreign keys: {violations[:5]}")
