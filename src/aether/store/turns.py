"""A chat turn: the user's message, the run that answers it and the assistant's reply.

Each step of a turn is one transaction, so a turn costs two plus one per run event (written
piecewise it took about ten), and no step is ever half-written.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from aether.store.conversations import (
    add_message,
    insert_conversation,
    insert_message,
    touch_conversation,
)
from aether.store.db import Database
from aether.store.idempotency import KeyClaim, KeyOutcome, check_claim, insert_key, settle_key
from aether.store.records import (
    FinishedTurn,
    MessageRole,
    MessageStatus,
    OpenedTurn,
    RunStatus,
)
from aether.store.runs import final_status, finish_running_run, insert_run, recorded_run
from aether.store.types import utcnow


class TurnRepository:
    """Every method is one committed transaction, so callers never manage sessions."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def open_turn(
        self,
        conversation_id: str | None,
        *,
        title: str | None,
        question: str,
        agent_requested: str,
        model: str,
        idempotency: KeyClaim | None = None,
    ) -> OpenedTurn:
        """Store the user's question with a new `running` run that will answer it.

        `conversation_id=None` starts a conversation titled `title`; an unknown id raises
        `ConversationNotFoundError` and stores nothing. Committed when this returns, so the
        question is safe before any agent starts working on it.

        With `idempotency`, the key is bound to the run in the same transaction; if the caller
        has used the key already, `IdempotencyKeyTaken` says for which run and nothing is stored.
        """
        work = partial(
            _open_turn,
            conversation_id=conversation_id,
            title=title,
            question=question,
            agent_requested=agent_requested,
            model=model,
            idempotency=idempotency,
            at=utcnow(),
        )
        try:
            return await self._database.write(work)
        except IntegrityError:
            if idempotency is None:
                raise
            # A concurrent duplicate committed the key first (PostgreSQL: both looked, neither
            # found it). Looking again finds it and raises IdempotencyKeyTaken.
            return await self._database.write(work)

    async def finish_turn(
        self,
        run_id: str,
        status: RunStatus | str,
        *,
        text: str | None,
        message_status: MessageStatus | str,
        error: str | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        idempotency: KeyOutcome | None = None,
    ) -> FinishedTurn:
        """Finish the running run and store the assistant's reply `text` (none if None) in its
        conversation, which moves up in the list; both or neither. `idempotency` is recorded on
        the run's idempotency key, in the same transaction.

        As with `RunRepository.finish`, the first final status wins: if the run has finished
        already, nothing is stored and the result holds the recorded run and no message.
        """
        work = partial(
            _finish_turn,
            run_id=run_id,
            status=final_status(status),
            text=text,
            message_status=MessageStatus(message_status),
            error=error,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            idempotency=idempotency,
            at=utcnow(),
        )
        return await self._database.write(work)


def _open_turn(
    connection: Connection,
    *,
    conversation_id: str | None,
    title: str | None,
    question: str,
    agent_requested: str,
    model: str,
    idempotency: KeyClaim | None,
    at: datetime,
) -> OpenedTurn:
    if idempotency is not None:
        check_claim(connection, claim=idempotency, at=at)
    if conversation_id is None:
        conversation = insert_conversation(connection, title=title, at=at)
    else:
        conversation = touch_conversation(connection, conversation_id=conversation_id, at=at)
    run = insert_run(
        connection,
        conversation_id=conversation.id,
        agent_requested=agent_requested,
        model=model,
        at=at,
    )
    message = insert_message(
        connection,
        conversation_id=conversation.id,
        role=MessageRole.USER,
        content=question,
        run_id=run.id,
        status=MessageStatus.COMPLETE,
        error=None,
        at=at,
    )
    if idempotency is not None:
        insert_key(connection, claim=idempotency, run_id=run.id, at=at)
    return OpenedTurn(conversation, run, message)


def _finish_turn(
    connection: Connection,
    *,
    run_id: str,
    status: RunStatus,
    text: str | None,
    message_status: MessageStatus,
    error: str | None,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    idempotency: KeyOutcome | None,
    at: datetime,
) -> FinishedTurn:
    run = finish_running_run(
        connection,
        run_id=run_id,
        status=status,
        error=error,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        at=at,
    )
    if run is None:  # finished before: that outcome stands, reply included
        return FinishedTurn(recorded_run(connection, run_id), None)
    if idempotency is not None:
        settle_key(connection, run_id=run_id, outcome=idempotency)
    if text is None:
        return FinishedTurn(run, None)
    message = add_message(
        connection,
        conversation_id=run.conversation_id,
        role=MessageRole.ASSISTANT,
        content=text,
        run_id=run_id,
        status=message_status,
        error=error,
        at=at,
    )
    return FinishedTurn(run, message)
