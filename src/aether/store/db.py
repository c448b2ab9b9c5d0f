"""Engines and sessions: embedded SQLite by default, PostgreSQL in production."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import URL, Connection, event, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

# How long a SQLite writer waits for another one (thread or process) before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Operators paste plain URLs; Aether only runs on the asyncio drivers.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def async_url(url: str | URL) -> URL:
    """Parse a database URL, giving a driverless `sqlite://` or `postgresql://` its async driver."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def create_engine(url: str | URL, *, foreign_keys: bool = True) -> AsyncEngine:
    """An async engine configured for the backend.

    `foreign_keys=False` is only for migrations: SQLite's documented way to rebuild a table is
    with enforcement off, or dropping a parent table would cascade-delete its children.
    """
    parsed = async_url(url)
    if parsed.get_backend_name() != "sqlite":
        return _create_async_engine(parsed, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = _create_async_engine(parsed)
    event.listen(engine.sync_engine, "connect", _configure_sqlite)
    if foreign_keys:
        event.listen(engine.sync_engine, "connect", _enforce_foreign_keys)
    event.listen(engine.sync_engine, "begin", _begin_immediate)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (nothing lazy-loads later)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _configure_sqlite(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # Hand transaction control to SQLAlchemy (see `_begin_immediate`): the driver's legacy mode
    # would run DDL and SELECTs outside any transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # WAL lets readers proceed while one writer commits; the mode persists in the file.
        cursor.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL never corrupts the file; it only defers the fsync to checkpoints, so
        # a power cut (not a crash) may lose the last commits. Without it every commit fsyncs.
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _enforce_foreign_keys(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin_immediate(connection: Connection) -> None:
    """Take SQLite's write lock when the transaction starts, not at its first write.

    A deferred transaction that reads and then writes fails at once with "database is locked"
    if another writer got in between; an immediate one waits for the busy timeout instead.
    """
    connection.exec_driver_sql("BEGIN IMMEDIATE")
