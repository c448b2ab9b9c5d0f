"""Which database errors mean "unreachable" (a 503 to retry) and which are a statement's own."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from aether.store.db import is_unavailable


class ServerError(Exception):
    """Shaped like asyncpg's errors: a SQLSTATE on the exception."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


def wrapped(
    error: Exception, kind: type[OperationalError | IntegrityError | ProgrammingError]
) -> Exception:
    return kind("SELECT 1", {}, error)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        TimeoutError(),
        PoolTimeoutError("QueuePool limit reached"),
        ServerError("57P03"),  # the database system is starting up
        ServerError("08006"),  # connection failure
        ServerError("53300"),  # too many connections
        wrapped(ServerError("57P01"), ProgrammingError),  # admin shutdown, adapted by the dialect
        wrapped(sqlite3.OperationalError("database is locked"), OperationalError),
        wrapped(sqlite3.OperationalError("unable to open database file"), OperationalError),
    ],
)
def test_unreachable(error: Exception) -> None:
    assert is_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bug"),
        wrapped(sqlite3.IntegrityError("UNIQUE constraint failed"), IntegrityError),
        wrapped(sqlite3.OperationalError("no such table: runs"), OperationalError),
        wrapped(ServerError("23505"), IntegrityError),  # unique violation
        ServerError("42P01"),  # undefined table
    ],
)
def test_a_statements_own_failure(error: Exception) -> None:
    assert not is_unavailable(error)


def test_a_connection_invalidated_mid_statement_is_unreachable() -> None:
    error = OperationalError("SELECT 1", {}, Exception("closed"), connection_invalidated=True)
    assert is_unavailable(error)
