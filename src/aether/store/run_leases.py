"""Leases of running runs: how a run outlives the gateway replica that served it.

The replica serving a run renews its lease (`heartbeat_at`) every few seconds, one statement for
all its runs, and saves their answers written so far (`partial_text`) with it. A run whose
heartbeat is older than the lease lost its replica (killed, or cut off from the database): any
replica reaps it, ending it `failed` with its partial answer stored as the assistant's reply,
exactly as if the replica had finished it with an error.

Reaping is a conditional UPDATE of runs still `running`, over rows taken with `SKIP LOCKED` on
PostgreSQL (SQLite has one writer at a time), so replicas that reap at once never end a run twice
and never wait for one another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final, NamedTuple

from sqlalchemy import Connection, bindparam, select, update

from aether.store.conversations import add_message
from aether.store.db import Database
from aether.store.models import run_table
from aether.store.records import MessageRole, MessageStatus, RunStatus
from aether.store.runs import append_event
from aether.store.types import utcnow

REAP_BATCH: Final = 100
"""Runs ended per transaction: a burst of orphans (a replica with many runs died) is reaped in
short transactions rather than one long one."""

_IN_FLIGHT = run_table.c.status == RunStatus.RUNNING
_RENEW = (
    update(run_table)
    .where(run_table.c.id.in_(bindparam("run_ids", expanding=True)), _IN_FLIGHT)
    .values(heartbeat_at=bindparam("at"))
)
_SAVE_TEXT = (
    update(run_table)
    .where(run_table.c.id == bindparam("run_id"), _IN_FLIGHT)
    .values(partial_text=bindparam("partial"))
)
_FORGET_TEXT = (
    update(run_table)
    .where(run_table.c.id.in_(bindparam("run_ids", expanding=True)), ~_IN_FLIGHT)
    .values(partial_text=None)
)
_EXPIRED = (
    select(run_table.c.id)
    .where(_IN_FLIGHT, run_table.c.heartbeat_at < bindparam("cutoff"))
    .order_by(run_table.c.heartbeat_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_FAIL = (
    update(run_table)
    .where(run_table.c.id.in_(bindparam("run_ids", expanding=True)), _IN_FLIGHT)
    .values(status=RunStatus.FAILED, error=bindparam("reason"), finished_at=bindparam("at"))
    .returning(run_table.c.id, run_table.c.conversation_id, run_table.c.partial_text)
)


class ReapedRun(NamedTuple):
    run_id: str
    conversation_id: str
    partial_text: str
    """The answer stored for it: what its replica had saved, possibly nothing."""


class RunEnding(NamedTuple):
    """How a reaped run ends: the reason (its error) and the event that closes its log."""

    reason: str
    event_type: str
    event_payload: dict[str, Any]


class RunLeaseRepository:
    """Every method is one committed transaction (reaping: one per batch)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def heartbeat(
        self,
        live: Sequence[str],
        partial_texts: Mapping[str, str] | None = None,
        finished: Sequence[str] = (),
        *,
        at: datetime | None = None,
    ) -> None:
        """Renew the leases of the `live` runs and save the `partial_texts` that changed; drop
        the saved text of `finished` runs (their reply is stored in full by now)."""
        if not live and not finished:
            return
        work = partial(
            _heartbeat,
            live=list(live),
            partial_texts=dict(partial_texts or {}),
            finished=list(finished),
            at=at or utcnow(),
        )
        await self._database.write(work)

    async def reap_expired(
        self,
        lease: timedelta,
        ending: RunEnding,
        *,
        at: datetime | None = None,
        batch: int = REAP_BATCH,
    ) -> list[ReapedRun]:
        """End every running run whose heartbeat is older than `lease`: `failed` with
        `ending.reason`, its partial answer stored, `ending`'s event appended."""
        now = at or utcnow()
        reaped: list[ReapedRun] = []
        while True:
            work = partial(_reap, cutoff=now - lease, ending=ending, at=now, limit=batch)
            ended = await self._database.write(work)
            reaped.extend(ended)
            if len(ended) < batch:
                return reaped


def _heartbeat(
    connection: Connection,
    *,
    live: list[str],
    partial_texts: dict[str, str],
    finished: list[str],
    at: datetime,
) -> None:
    if live:
        connection.execute(_RENEW, {"run_ids": live, "at": at})
    if partial_texts:
        rows = [{"run_id": run_id, "partial": text} for run_id, text in partial_texts.items()]
        connection.execute(_SAVE_TEXT, rows)
    if finished:
        connection.execute(_FORGET_TEXT, {"run_ids": finished})


def _reap(
    connection: Connection, *, cutoff: datetime, ending: RunEnding, at: datetime, limit: int
) -> list[ReapedRun]:
    expired = list(connection.scalars(_EXPIRED, {"cutoff": cutoff, "limit": limit}))
    if not expired:
        return []
    rows = connection.execute(_FAIL, {"run_ids": expired, "reason": ending.reason, "at": at})
    reaped = [ReapedRun(row.id, row.conversation_id, row.partial_text or "") for row in rows]
    for run in reaped:
        append_event(
            connection,
            run_id=run.run_id,
            type=ending.event_type,
            payload=ending.event_payload,
            at=at,
        )
        add_message(
            connection,
            conversation_id=run.conversation_id,
            role=MessageRole.ASSISTANT,
            content=run.partial_text,
            run_id=run.run_id,
            status=MessageStatus.FAILED,
            error=ending.reason,
            at=at,
        )
    if reaped:
        connection.execute(_FORGET_TEXT, {"run_ids": [run.run_id for run in reaped]})
    return reaped
