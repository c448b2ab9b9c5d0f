"""Runs (one agent invocation per chat request) and the events they emit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aether.store.errors import ConversationNotFoundError, RunNotFoundError
from aether.store.models import RunEventRow, RunRow
from aether.store.records import Run, RunEvent, RunStatus
from aether.store.types import utcnow


class RunRepository:
    """Every method is one committed transaction, so callers never manage sessions."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def start(self, conversation_id: str, agent_requested: str, model: str) -> Run:
        """Open a run in status `running`."""
        row = RunRow(conversation_id=conversation_id, agent_requested=agent_requested, model=model)
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError as exc:  # the only constraint that can fail is the conversation FK
            raise ConversationNotFoundError(conversation_id) from exc
        return Run.model_validate(row)

    async def set_routing(
        self, run_id: str, agent: str, reason: str | None, confidence: float | None
    ) -> Run:
        """Record which agent the run was routed to, and why."""
        statement = (
            update(RunRow)
            .where(RunRow.id == run_id)
            .values(agent=agent, routing_reason=reason, routing_confidence=confidence)
            .returning(RunRow)
        )
        async with self._sessions.begin() as session:
            row = await session.scalar(statement)
            if row is None:
                raise RunNotFoundError(run_id)
        return Run.model_validate(row)

    async def append_event(self, run_id: str, type: str, payload: dict[str, Any]) -> RunEvent:
        """Append an event with the run's next seq; safe under concurrent appends.

        Incrementing the run's counter locks its row until commit, so appends to one run
        serialise: seqs have no gaps or duplicates and ids grow in seq order.
        """
        next_seq = (
            update(RunRow)
            .where(RunRow.id == run_id)
            .values(last_event_seq=RunRow.last_event_seq + 1)
            .returning(RunRow.last_event_seq)
        )
        async with self._sessions.begin() as session:
            seq = await session.scalar(next_seq)
            if seq is None:
                raise RunNotFoundError(run_id)
            row = RunEventRow(run_id=run_id, seq=seq, type=type, payload=payload)
            session.add(row)
        return RunEvent.model_validate(row)

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
        final = RunStatus(status)
        if final is RunStatus.RUNNING:
            raise ValueError("finish needs a final status, not 'running'")
        statement = (
            update(RunRow)
            .where(RunRow.id == run_id, RunRow.status == RunStatus.RUNNING)
            .values(
                status=final,
                error=error,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                finished_at=utcnow(),
            )
            .returning(RunRow)
        )
        async with self._sessions.begin() as session:
            row = await session.scalar(statement) or await session.get(RunRow, run_id)
            if row is None:
                raise RunNotFoundError(run_id)
        return Run.model_validate(row)

    async def get(self, run_id: str) -> Run | None:
        async with self._sessions.begin() as session:
            row = await session.get(RunRow, run_id)
            return None if row is None else Run.model_validate(row)

    async def events(
        self, run_id: str, after_id: int | None = None, limit: int | None = None
    ) -> list[RunEvent]:
        """The run's events in order, optionally only those after the cursor `after_id`."""
        query = select(RunEventRow).where(RunEventRow.run_id == run_id).order_by(RunEventRow.id)
        if after_id is not None:
            query = query.where(RunEventRow.id > after_id)
        if limit is not None:
            query = query.limit(limit)
        async with self._sessions.begin() as session:
            rows = (await session.scalars(query)).all()
        return [RunEvent.model_validate(row) for row in rows]
