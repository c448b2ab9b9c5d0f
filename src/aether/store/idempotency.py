"""Idempotency keys: which run a caller's `Idempotency-Key` started, so a retry finds it.

A key is claimed in the transaction that stores the user's message and opens the run
(`TurnRepository.open_turn`), so there is never a run without its key or a key without its run;
the primary key (caller, key) lets only one of two concurrent duplicates commit. When the run
ends, `TurnRepository.finish_turn` records what a replay needs beyond the run itself (the finish
reason, the error code), or releases the key when the failure is worth retrying (an agent that
was unreachable before it answered anything), so the retry runs instead of replaying the failure.

Keys are remembered for `KEY_LIFETIME`; an older one is claimed afresh by the next request using
it. Deleting the run (with its conversation) deletes its key.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import NamedTuple, cast

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import Connection, ForeignKey, String, Table, bindparam, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from aether.store.db import Database
from aether.store.errors import StoreError
from aether.store.models import Base
from aether.store.types import utcnow

KEY_LIFETIME = timedelta(hours=24)
"""How long a key stays bound to its first request (Stripe's figure)."""
MAX_KEY_LENGTH = 255
MAX_CALLER_LENGTH = 64


class IdempotencyRecord(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    caller: str
    key: str
    fingerprint: str
    """A digest of the request that claimed the key: a retry must send the same request."""
    run_id: str
    finish_reason: str | None
    """How the completion ended (`stop`, `length`) once the run has completed."""
    error_code: str | None
    """The error code the client was given, once the run has failed or was cancelled."""
    created_at: AwareDatetime


class KeyClaim(NamedTuple):
    """A request's claim on a key, checked and stored by `TurnRepository.open_turn`."""

    caller: str
    key: str
    fingerprint: str


class KeyOutcome(NamedTuple):
    """What `TurnRepository.finish_turn` records on the run's key."""

    finish_reason: str | None = None
    error_code: str | None = None
    release: bool = False
    """Forget the key: the failure is worth retrying, so a retry must run again."""


class IdempotencyKeyTaken(StoreError):
    """The caller has used this key before (within `KEY_LIFETIME`); nothing new was stored."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__(f"idempotency key {record.key!r} is bound to run {record.run_id}")
        self.record = record


class IdempotencyKeyRow(Base):
    __tablename__ = "idempotency_keys"

    caller: Mapped[str] = mapped_column(String(MAX_CALLER_LENGTH), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    finish_reason: Mapped[str | None] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


idempotency_table = cast(Table, IdempotencyKeyRow.__table__)

_INSERT = idempotency_table.insert()
_FIND = select(idempotency_table).where(
    idempotency_table.c.caller == bindparam("caller"), idempotency_table.c.key == bindparam("key")
)
_FORGET = delete(idempotency_table).where(
    idempotency_table.c.caller == bindparam("caller"), idempotency_table.c.key == bindparam("key")
)
_RELEASE = delete(idempotency_table).where(idempotency_table.c.run_id == bindparam("of_run"))
_SETTLE = (
    update(idempotency_table)
    .where(idempotency_table.c.run_id == bindparam("of_run"))
    .values(finish_reason=bindparam("new_finish_reason"), error_code=bindparam("new_error_code"))
)


class IdempotencyRepository:
    """Reads keys; they are written as part of a turn (`aether.store.turns`)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, caller: str, key: str) -> IdempotencyRecord | None:
        """The live record of `key`, or None (never used, expired or released)."""
        return await self._database.read(partial(find_key, caller=caller, key=key, at=utcnow()))


def find_key(
    connection: Connection, *, caller: str, key: str, at: datetime
) -> IdempotencyRecord | None:
    record = _stored(connection, caller=caller, key=key)
    return None if record is None or _expired(record, at) else record


def check_claim(connection: Connection, *, claim: KeyClaim, at: datetime) -> None:
    """Raise `IdempotencyKeyTaken` if the key is bound; forget it if it has expired."""
    record = _stored(connection, caller=claim.caller, key=claim.key)
    if record is None:
        return
    if not _expired(record, at):
        raise IdempotencyKeyTaken(record)
    connection.execute(_FORGET, {"caller": claim.caller, "key": claim.key})


def _stored(connection: Connection, *, caller: str, key: str) -> IdempotencyRecord | None:
    row = connection.execute(_FIND, {"caller": caller, "key": key}).first()
    return None if row is None else IdempotencyRecord.model_validate(row)


def _expired(record: IdempotencyRecord, at: datetime) -> bool:
    return record.created_at <= at - KEY_LIFETIME


def insert_key(connection: Connection, *, claim: KeyClaim, run_id: str, at: datetime) -> None:
    """Bind the key to the run; a concurrent duplicate's insert fails on the primary key."""
    connection.execute(
        _INSERT,
        {
            "caller": claim.caller,
            "key": claim.key,
            "fingerprint": claim.fingerprint,
            "run_id": run_id,
            "finish_reason": None,
            "error_code": None,
            "created_at": at,
        },
    )


def settle_key(connection: Connection, *, run_id: str, outcome: KeyOutcome) -> None:
    """Record how the run ended on its key, or release the key."""
    if outcome.release:
        connection.execute(_RELEASE, {"of_run": run_id})
        return
    connection.execute(
        _SETTLE,
        {
            "of_run": run_id,
            "new_finish_reason": outcome.finish_reason,
            "new_error_code": outcome.error_code,
        },
    )
