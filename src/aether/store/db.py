"""Engines, and where the repositories' transactions run: embedded SQLite by default,
PostgreSQL in production.

The repositories express each operation as a unit of work, a plain function of a synchronous
`Connection`, and hand it to a `Database`, which runs it in one transaction and commits it before
returning. How it runs is the backend's business (see `SQLiteDatabase` and `ServerDatabase`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Protocol, TypeVar

from sqlalchemy import URL, Connection, Engine, event, make_url
from sqlalchemy import create_engine as _create_sync_engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from aether.store.errors import StoreError

T = TypeVar("T")

# How long a SQLite writer waits for another one (thread or process) before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000

# How long opening a PostgreSQL connection may take: an unreachable server fails a request (and a
# readiness probe) after this, instead of after asyncpg's default of a minute.
SERVER_CONNECT_TIMEOUT_SECONDS = 5.0

# SQLite errors that say the file cannot be used right now, rather than that a statement is wrong.
_SQLITE_UNAVAILABLE = ("locked", "unable to open", "disk i/o", "disk is full", "readonly")

# PostgreSQL's SQLSTATEs for "no usable connection": class 08 (connection exceptions), the server
# shutting down or starting up, and no connection slots left.
_SERVER_UNAVAILABLE_CLASS = "08"
_SERVER_UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03", "53300"})

# Worker threads per SQLite database: one writer at a time (see the write lock) plus readers.
SQLITE_THREADS = 4

# Execution option marking a SQLite connection whose transaction only reads (see `_begin`).
_READ_ONLY = "aether_read_only"

# Operators paste plain URLs; Aether only runs on the asyncio drivers.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


class DatabaseUnavailableError(StoreError):
    """The database cannot be reached (refused, dropped or timed-out connection, locked file).

    Nothing of the transaction was committed. Transient by nature: the engine reconnects on its
    own once the database is back (pre-ping and invalidation of broken connections), so a caller
    can simply try again later.
    """


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means "cannot reach the database", as opposed to a statement's own failure
    (a constraint, bad SQL), which must propagate unchanged."""
    if isinstance(exc, OSError | TimeoutError | PoolTimeoutError) or _server_unavailable(exc):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc.orig, OSError | TimeoutError):
        return True
    if _server_unavailable(exc.orig):
        return True
    if not isinstance(exc, OperationalError):
        return False
    if "sqlite" not in type(exc.orig).__module__:
        return True
    message = str(exc.orig).lower()
    return any(reason in message for reason in _SQLITE_UNAVAILABLE)


def _server_unavailable(exc: BaseException | None) -> bool:
    """A PostgreSQL driver error (asyncpg's own, raised while connecting, or the adapted one)
    whose SQLSTATE says the server cannot take the connection."""
    state = getattr(exc, "sqlstate", None)
    if not isinstance(state, str):
        return False
    return state.startswith(_SERVER_UNAVAILABLE_CLASS) or state in _SERVER_UNAVAILABLE_STATES


def _unavailable(exc: BaseException) -> DatabaseUnavailableError:
    return DatabaseUnavailableError(f"the database is unavailable ({type(exc).__name__})")


class Database(Protocol):
    """Runs units of work, each in one transaction that is committed when the call returns.

    A unit of work that raises is rolled back and its exception propagates unchanged, except
    that losing the database is always `DatabaseUnavailableError` (see `is_unavailable`).
    """

    engine: AsyncEngine

    async def write(self, work: Callable[[Connection], T]) -> T: ...

    async def read(self, work: Callable[[Connection], T]) -> T:
        """For work that only reads: on SQLite it neither waits for nor blocks writers."""
        ...

    async def close(self) -> None:
        """Release what the database object owns (not `engine`: its creator disposes it)."""
        ...


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
        # Pre-ping replaces connections the server dropped (a restart, a failover); a connection
        # that breaks mid-transaction is invalidated by SQLAlchemy, so no restart is ever needed.
        connect_args = (
            {"timeout": SERVER_CONNECT_TIMEOUT_SECONDS}
            if parsed.drivername.endswith("asyncpg")
            else {}
        )
        return _create_async_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = _create_async_engine(parsed)
    _configure_sqlite_engine(engine.sync_engine, foreign_keys=foreign_keys)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (nothing lazy-loads later)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def database_for(engine: AsyncEngine) -> Database:
    """The transaction runner suited to `engine`'s backend."""
    if engine.dialect.name == "sqlite":
        return SQLiteDatabase(engine)
    return ServerDatabase(engine)


class ServerDatabase:
    """A database server (PostgreSQL): units of work run on the async engine's connections.

    The server's row locks order concurrent writers, so nothing is serialised here.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def write(self, work: Callable[[Connection], T]) -> T:
        try:
            async with self.engine.begin() as connection:
                return await connection.run_sync(work)
        except Exception as exc:
            if is_unavailable(exc):
                raise _unavailable(exc) from exc
            raise

    async def read(self, work: Callable[[Connection], T]) -> T:
        return await self.write(work)

    async def close(self) -> None:
        """Nothing of its own to release."""


class SQLiteDatabase:
    """SQLite: each unit of work runs whole in a worker thread on the standard `sqlite3` driver.

    Through aiosqlite every DBAPI call (cursor, execute, fetch, close, commit) is a hand-off to
    the driver's thread and back, about 0.1 ms of wake-up latency and CPU each, three or four
    per statement; one hand-off per transaction makes the gateway's transactions 2-3 times
    cheaper. `engine` (aiosqlite) stays available for code that wants an async engine.

    Writers in this process queue on an `asyncio.Lock`, so each is woken the moment the previous
    one commits; SQLite's own busy handler would instead poll with sleeps of up to 100 ms. The
    busy timeout stays in place for writers in other processes.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sync_engine = _create_sync_engine(engine.url.set(drivername="sqlite+pysqlite"))
        _configure_sqlite_engine(self._sync_engine, foreign_keys=True)
        self._threads = ThreadPoolExecutor(SQLITE_THREADS, thread_name_prefix="aether-sqlite")
        self._write_lock = asyncio.Lock()

    async def write(self, work: Callable[[Connection], T]) -> T:
        async with self._write_lock:
            return await _even_if_cancelled(self._in_thread(work, read_only=False))

    async def read(self, work: Callable[[Connection], T]) -> T:
        return await self._in_thread(work, read_only=True)

    async def close(self) -> None:
        """Let running transactions finish, then close the connections."""
        await asyncio.to_thread(self._threads.shutdown)
        self._sync_engine.dispose()

    def _in_thread(self, work: Callable[[Connection], T], *, read_only: bool) -> asyncio.Future[T]:
        transaction = partial(self._transaction, work, read_only=read_only)
        return asyncio.get_running_loop().run_in_executor(self._threads, transaction)

    def _transaction(self, work: Callable[[Connection], T], *, read_only: bool) -> T:
        try:
            with self._sync_engine.connect() as connection:
                if read_only:
                    connection.execution_options(**{_READ_ONLY: True})
                with connection.begin():
                    return work(connection)
        except Exception as exc:
            if is_unavailable(exc):
                raise _unavailable(exc) from exc
            raise


async def _even_if_cancelled(transaction: asyncio.Future[T]) -> T:
    """Wait for a transaction running in a thread, which cancelling cannot stop.

    If the caller is cancelled, it still waits for the transaction to end before letting the
    cancellation through: the write lock must be held until SQLite's lock is released, or the
    next writer would fall back to polling in the busy handler.
    """
    try:
        return await asyncio.shield(transaction)
    except asyncio.CancelledError:
        await asyncio.wait([transaction])
        raise


def _configure_sqlite_engine(engine: Engine, *, foreign_keys: bool) -> None:
    event.listen(engine, "connect", _configure_sqlite)
    if foreign_keys:
        event.listen(engine, "connect", _enforce_foreign_keys)
    event.listen(engine, "begin", _begin)


def _configure_sqlite(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # Hand transaction control to SQLAlchemy (see `_begin`): the driver's legacy mode would run
    # DDL and SELECTs outside any transaction.
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


def _begin(connection: Connection) -> None:
    """Take SQLite's write lock when the transaction starts, not at its first write.

    A deferred transaction that reads and then writes fails at once with "database is locked"
    if another writer got in between; an immediate one waits for the busy timeout instead.
    Transactions marked read-only stay deferred: in WAL mode they never need the write lock.
    """
    read_only = connection.get_execution_options().get(_READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
