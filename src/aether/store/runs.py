"""Runs (one agent invocation per chat request) and the events they emit.

The module-level functions are units of work (see `aether.store.db`): `TurnRepository` combines
them with the conversation's into one transaction per step of a chat turn.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, Row, select, update
from sqlalchemy.exc import IntegrityError

from aether.store.db import Database
from aether.store.errors import ConversationNotFoundError, RunNotFoundError
from aether.store.models import new_id, run_event_table, run_table
from aether.store.records import Run, RunEvent, RunStatus
from aether.store.types import utcnow


class RunRepository:
    """Every method is one committed transaction, so callers never manage sessions."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def start(self, conversation_id: str, agent_requested: str, model: str) -> Run:
        """Open a run in status `running`."""
        work = partial(
            insert_run,
            conversation_id=conversation_id,
            agent_requested=agent_requested,
            model=model,
            at=utcnow(),
        )
        try:
            return await self._database.write(work)
        except IntegrityError as exc:  # the only constraint that can fail is the conversation FK
            raise ConversationNotFoundError(conversation_id) from exc

    async def set_routing(
        self, run_id: str, agent: str, reason: str | None, confidence: float | None
    ) -> Run:
        """Record which agent the run was routed to, and why."""
        routing = {"agent": agent, "routing_reason": reason, "routing_confidence": confidence}
        return await self._database.write(partial(_update_run, run_id=run_id, values=routing))

    async def record_routing(
        self,
        run_id: str,
        agent: str,
        reason: str | None,
        confidence: float | None,
        event_type: str,
        payload: dict[str, Any],
    ) -> tuple[Run, RunEvent]:
        """`set_routing` and `append_event` of the event announcing it, in one transaction."""
        work = partial(
            _record_routing,
            run_id=run_id,
            routing={"agent": agent, "routing_reason": reason, "routing_confidence": confidence},
            event_type=event_type,
            payload=payload,
            at=utcnow(),
        )
        return await self._database.write(work)

    async def append_event(self, run_id: str, type: str, payload: dict[str, Any]) -> RunEvent:
        """Append an event with the run's next seq; safe under concurrent appends.

        Incrementing the run's counter locks its row until commit, so appends to one run
        serialise: seqs have no gaps or duplicates and ids grow in seq order.
        """
        work = partial(append_event, run_id=run_id, type=type, payload=payload, at=utcnow())
        return await self._database.write(work)

    async def finish(
        self,
        run_id: str,
        status: RunStatus | str,
        error: str | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
    ) -> Run:
        """Move a running run to a final status and return it.

        The first final status wins: finishing a run that already finished (say, cancelled by
        the client while the agent completed) changes nothing and returns the recorded run.
        """
        work = partial(
            finish_run,
            run_id=run_id,
            status=final_status(status),
            error=error,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            at=utcnow(),
        )
        return await self._database.write(work)

    async def get(self, run_id: str) -> Run | None:
        return await self._database.read(partial(_get, run_id=run_id))

    async def events(
        self, run_id: str, after_id: int | None = None, limit: int | None = None
    ) -> list[RunEvent]:
        """The run's events in order, optionally only those after the cursor `after_id`."""
        work = partial(_events, run_id=run_id, after_id=after_id, limit=limit)
        return await self._database.read(work)


def final_status(status: RunStatus | str) -> RunStatus:
    """Validate a status a run may finish with, before any transaction starts."""
    final = RunStatus(status)
    if final is RunStatus.RUNNING:
        raise ValueError("finish needs a final status, not 'running'")
    return final


def insert_run(
    connection: Connection, *, conversation_id: str, agent_requested: str, model: str, at: datetime
) -> Run:
    run = Run(
        id=new_id(),
        conversation_id=conversation_id,
        model=model,
        agent_requested=agent_requested,
        agent=None,
        routing_reason=None,
        routing_confidence=None,
        status=RunStatus.RUNNING,
        error=None,
        prompt_tokens=None,
        completion_tokens=None,
        created_at=at,
        finished_at=None,
    )
    connection.execute(run_table.insert().values(**run.model_dump(), last_event_seq=0))
    return run


def append_event(
    connection: Connection, *, run_id: str, type: str, payload: dict[str, Any], at: datetime
) -> RunEvent:
    """Take the run's next seq and insert the event under it."""
    return _insert_event(connection, _next_seq(connection, run_id), run_id, type, payload, at)


def finish_run(
    connection: Connection,
    *,
    run_id: str,
    status: RunStatus,
    error: str | None,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    at: datetime,
) -> Run:
    """Finish the run unless it already has a final status; either way return it as stored."""
    statement = (
        update(run_table)
        .where(run_table.c.id == run_id, run_table.c.status == RunStatus.RUNNING)
        .values(
            status=status,
            error=error,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finished_at=at,
        )
        .returning(*run_table.c)
    )
    row = connection.execute(statement).first()
    if row is not None:
        return Run.model_validate(row)
    run = _get(connection, run_id=run_id)
    if run is None:
        raise RunNotFoundError(run_id)
    return run


def _record_routing(
    connection: Connection,
    *,
    run_id: str,
    routing: dict[str, Any],
    event_type: str,
    payload: dict[str, Any],
    at: datetime,
) -> tuple[Run, RunEvent]:
    """One UPDATE both stores the routing and takes the seq of the event announcing it."""
    values = {**routing, "last_event_seq": run_table.c.last_event_seq + 1}
    row = _update_run_row(connection, run_id, values)
    event = _insert_event(connection, row.last_event_seq, run_id, event_type, payload, at)
    return Run.model_validate(row), event


def _update_run(connection: Connection, *, run_id: str, values: dict[str, Any]) -> Run:
    return Run.model_validate(_update_run_row(connection, run_id, values))


def _update_run_row(connection: Connection, run_id: str, values: dict[str, Any]) -> Row[Any]:
    statement = (
        update(run_table).where(run_table.c.id == run_id).values(values).returning(*run_table.c)
    )
    row = connection.execute(statement).first()
    if row is None:
        raise RunNotFoundError(run_id)
    return row


def _next_seq(connection: Connection, run_id: str) -> int:
    """Increment the run's event counter, which locks its row until commit on PostgreSQL."""
    statement = (
        update(run_table)
        .where(run_table.c.id == run_id)
        .values(last_event_seq=run_table.c.last_event_seq + 1)
        .returning(run_table.c.last_event_seq)
    )
    seq = connection.scalar(statement)
    if seq is None:
        raise RunNotFoundError(run_id)
    return seq


def _insert_event(
    connection: Connection,
    seq: int,
    run_id: str,
    type: str,
    payload: dict[str, Any],
    at: datetime,
) -> RunEvent:
    statement = (
        run_event_table.insert()
        .values(run_id=run_id, seq=seq, type=type, payload=payload, created_at=at)
        .returning(run_event_table.c.id)
    )
    event_id = connection.execute(statement).scalar_one()
    return RunEvent(id=event_id, run_id=run_id, seq=seq, type=type, payload=payload, created_at=at)


def _get(connection: Connection, *, run_id: str) -> Run | None:
    row = connection.execute(select(run_table).where(run_table.c.id == run_id)).first()
    return None if row is None else Run.model_validate(row)


def _events(
    connection: Connection, *, run_id: str, after_id: int | None, limit: int | None
) -> list[RunEvent]:
    query = (
        select(run_event_table)
        .where(run_event_table.c.run_id == run_id)
        .order_by(run_event_table.c.id)
    )
    if after_id is not None:
        query = query.where(run_event_table.c.id > after_id)
    if limit is not None:
        query = query.limit(limit)
    return [RunEvent.model_validate(row) for row in connection.execute(query)]
