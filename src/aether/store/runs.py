"""Runs (one agent invocation per chat request) and the events they emit.

The module-level functions are units of work (see `aether.store.db`): `TurnRepository` combines
them with the conversation's into one transaction per step of a chat turn.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, Update, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from aether.store.db import Database
from aether.store.errors import ConversationNotFoundError, RunNotFoundError
from aether.store.models import new_id, run_event_table, run_table
from aether.store.records import Run, RunEvent, RunStatus
from aether.store.types import utcnow


class RunFilter(NamedTuple):
    """Which runs `RunRepository.list` returns; None matches any value."""

    status: RunStatus | None = None
    conversation_id: str | None = None
    agent: str | None = None
    """The agent the run was routed to."""


class _Routing(NamedTuple):
    """Where a run goes and why: the parameters of `_ROUTE`."""

    run_id: str
    agent: str
    reason: str | None
    confidence: float | None


# Built once: a statement with its values bound at execution skips rebuilding and re-keying it.
_INSERT_RUN = run_table.insert()
_INSERT_EVENT = run_event_table.insert().returning(run_event_table.c.id)
_NEXT_SEQ = (
    update(run_table)
    .where(run_table.c.id == bindparam("run_id"))
    .values(last_event_seq=run_table.c.last_event_seq + 1)
    .returning(run_table.c.last_event_seq)
)
_FINISH = (
    update(run_table)
    .where(run_table.c.id == bindparam("run_id"), run_table.c.status == RunStatus.RUNNING)
    .values(
        status=bindparam("status"),
        error=bindparam("error"),
        prompt_tokens=bindparam("prompt_tokens"),
        completion_tokens=bindparam("completion_tokens"),
        finished_at=bindparam("at"),
    )
    .returning(*run_table.c)
)
_ROUTE = (
    update(run_table)
    .where(run_table.c.id == bindparam("run_id"))
    .values(
        agent=bindparam("agent"),
        routing_reason=bindparam("reason"),
        routing_confidence=bindparam("confidence"),
    )
    .returning(*run_table.c)
)
# Routing plus the seq of the event announcing it, in one statement.
_ROUTE_AND_NEXT_SEQ = _ROUTE.values(last_event_seq=run_table.c.last_event_seq + 1)


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
        routing = _Routing(run_id=run_id, agent=agent, reason=reason, confidence=confidence)
        return await self._database.write(partial(_set_routing, routing=routing))

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
            routing=_Routing(run_id=run_id, agent=agent, reason=reason, confidence=confidence),
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

    async def list(
        self, where: RunFilter | None = None, *, limit: int = 20, offset: int = 0
    ) -> tuple[builtins.list[Run], int]:
        """One page of the runs `where` matches, newest first, and how many match in all."""
        if limit < 1 or offset < 0:
            raise ValueError(f"need limit >= 1 and offset >= 0, got {limit=} {offset=}")
        work = partial(_page, where=where or RunFilter(), limit=limit, offset=offset)
        return await self._database.read(work)

    async def with_event(self, run_ids: Sequence[str], event_type: str) -> set[str]:
        """Those of `run_ids` that have an event of `event_type` (e.g. a cancel request)."""
        if not run_ids:
            return set()
        work = partial(_with_event, run_ids=builtins.list(run_ids), event_type=event_type)
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
    connection.execute(_INSERT_RUN, {**run.model_dump(), "last_event_seq": 0})
    return run


def append_event(
    connection: Connection, *, run_id: str, type: str, payload: dict[str, Any], at: datetime
) -> RunEvent:
    """Take the run's next seq and insert the event under it."""
    seq = connection.scalar(_NEXT_SEQ, {"run_id": run_id})
    if seq is None:
        raise RunNotFoundError(run_id)
    return _insert_event(connection, seq, run_id, type, payload, at)


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
    finished = finish_running_run(
        connection,
        run_id=run_id,
        status=status,
        error=error,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        at=at,
    )
    return finished or recorded_run(connection, run_id)


def finish_running_run(
    connection: Connection,
    *,
    run_id: str,
    status: RunStatus,
    error: str | None,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    at: datetime,
) -> Run | None:
    """Finish the run if it is still running; None if it is not (or does not exist)."""
    values = {
        "run_id": run_id,
        "status": status,
        "error": error,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "at": at,
    }
    row = connection.execute(_FINISH, values).first()
    return None if row is None else Run.model_validate(row)


def recorded_run(connection: Connection, run_id: str) -> Run:
    """The run as stored; raises `RunNotFoundError` if there is none."""
    run = _get(connection, run_id=run_id)
    if run is None:
        raise RunNotFoundError(run_id)
    return run


def _set_routing(connection: Connection, *, routing: _Routing) -> Run:
    return Run.model_validate(_route(connection, _ROUTE, routing))


def _record_routing(
    connection: Connection,
    *,
    routing: _Routing,
    event_type: str,
    payload: dict[str, Any],
    at: datetime,
) -> tuple[Run, RunEvent]:
    """One UPDATE both stores the routing and takes the seq of the event announcing it."""
    row = _route(connection, _ROUTE_AND_NEXT_SEQ, routing)
    event = _insert_event(connection, row.last_event_seq, routing.run_id, event_type, payload, at)
    return Run.model_validate(row), event


def _route(connection: Connection, statement: Update, routing: _Routing) -> Row[Any]:
    row = connection.execute(statement, routing._asdict()).first()
    if row is None:
        raise RunNotFoundError(routing.run_id)
    return row


def _insert_event(
    connection: Connection,
    seq: int,
    run_id: str,
    type: str,
    payload: dict[str, Any],
    at: datetime,
) -> RunEvent:
    values = {"run_id": run_id, "seq": seq, "type": type, "payload": payload, "created_at": at}
    event_id = connection.execute(_INSERT_EVENT, values).scalar_one()
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


def _page(
    connection: Connection, *, where: RunFilter, limit: int, offset: int
) -> tuple[list[Run], int]:
    conditions = []
    if where.status is not None:
        conditions.append(run_table.c.status == where.status)
    if where.conversation_id is not None:
        conditions.append(run_table.c.conversation_id == where.conversation_id)
    if where.agent is not None:
        conditions.append(run_table.c.agent == where.agent)
    query = (
        select(run_table)
        .where(*conditions)
        .order_by(run_table.c.created_at.desc(), run_table.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    rows = connection.execute(query).all()
    total = connection.scalar(select(func.count()).select_from(run_table).where(*conditions))
    return [Run.model_validate(row) for row in rows], total or 0


def _with_event(connection: Connection, *, run_ids: list[str], event_type: str) -> set[str]:
    # The (run_id, seq) unique index finds each run's events; the type is checked on those.
    query = (
        select(run_event_table.c.run_id)
        .where(run_event_table.c.run_id.in_(run_ids), run_event_table.c.type == event_type)
        .distinct()
    )
    return set(connection.scalars(query))
