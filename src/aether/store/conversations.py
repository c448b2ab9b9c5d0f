"""Conversations and their messages.

The module-level functions are units of work (see `aether.store.db`): `TurnRepository` combines
them with the run's into one transaction per step of a chat turn.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from functools import partial

from sqlalchemy import Connection, bindparam, delete, func, select, update

from aether.store.db import Database
from aether.store.errors import ConversationNotFoundError
from aether.store.models import conversation_table, message_table, new_id
from aether.store.records import Conversation, Message, MessageRole, MessageStatus
from aether.store.types import require_aware, utcnow

# Built once: a statement with its values bound at execution skips rebuilding and re-keying it.
_TOUCH = (
    update(conversation_table)
    .where(conversation_table.c.id == bindparam("conversation_id"))
    .values(updated_at=bindparam("at"))
    .returning(*conversation_table.c)
)
_INSERT_CONVERSATION = conversation_table.insert()
_INSERT_MESSAGE = message_table.insert()


class ConversationRepository:
    """Every method is one committed transaction, so callers never manage sessions."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(self, title: str | None = None) -> Conversation:
        return await self._database.write(partial(insert_conversation, title=title, at=utcnow()))

    async def get(self, conversation_id: str) -> Conversation | None:
        return await self._database.read(partial(_get, conversation_id=conversation_id))

    async def list(
        self, limit: int = 20, offset: int = 0
    ) -> tuple[builtins.list[Conversation], int]:
        """One page, most recently active first, and the total number of conversations."""
        if limit < 1 or offset < 0:
            raise ValueError(f"need limit >= 1 and offset >= 0, got {limit=} {offset=}")
        return await self._database.read(partial(_page, limit=limit, offset=offset))

    async def delete(self, conversation_id: str) -> bool:
        """Delete a conversation with its messages, runs and run events; False if it was absent."""
        return await self._database.write(partial(_delete, conversation_id=conversation_id))

    async def touch(self, conversation_id: str, at: datetime | None = None) -> None:
        """Mark the conversation active at `at` (default: now), moving it up in `list`."""
        when = utcnow() if at is None else require_aware(at)
        await self._database.write(
            partial(touch_conversation, conversation_id=conversation_id, at=when)
        )

    async def add_message(
        self,
        conversation_id: str,
        role: MessageRole | str,
        content: str,
        run_id: str | None = None,
        status: MessageStatus | str = MessageStatus.COMPLETE,
        error: str | None = None,
    ) -> Message:
        """Store a message and touch its conversation; it is committed when this returns."""
        work = partial(
            add_message,
            conversation_id=conversation_id,
            role=MessageRole(role),
            content=content,
            run_id=run_id,
            status=MessageStatus(status),
            error=error,
            at=utcnow(),
        )
        return await self._database.write(work)

    async def messages(self, conversation_id: str) -> builtins.list[Message]:
        """The conversation's messages, oldest first; empty if it does not exist."""
        return await self._database.read(partial(_messages, conversation_id=conversation_id))


def insert_conversation(connection: Connection, *, title: str | None, at: datetime) -> Conversation:
    conversation = Conversation(id=new_id(), title=title, created_at=at, updated_at=at)
    connection.execute(_INSERT_CONVERSATION, conversation.model_dump())
    return conversation


def touch_conversation(
    connection: Connection, *, conversation_id: str, at: datetime
) -> Conversation:
    """Set `updated_at`, which is also how writers check that the conversation still exists."""
    row = connection.execute(_TOUCH, {"conversation_id": conversation_id, "at": at}).first()
    if row is None:
        raise ConversationNotFoundError(conversation_id)
    return Conversation.model_validate(row)


def add_message(
    connection: Connection,
    *,
    conversation_id: str,
    role: MessageRole,
    content: str,
    run_id: str | None,
    status: MessageStatus,
    error: str | None,
    at: datetime,
) -> Message:
    """Insert a message and touch its conversation (raising if it does not exist)."""
    touch_conversation(connection, conversation_id=conversation_id, at=at)
    return insert_message(
        connection,
        conversation_id=conversation_id,
        role=role,
        content=content,
        run_id=run_id,
        status=status,
        error=error,
        at=at,
    )


def insert_message(
    connection: Connection,
    *,
    conversation_id: str,
    role: MessageRole,
    content: str,
    run_id: str | None,
    status: MessageStatus,
    error: str | None,
    at: datetime,
) -> Message:
    """Insert a message; the caller has touched the conversation (see `add_message`)."""
    message = Message(
        id=new_id(),
        conversation_id=conversation_id,
        role=role,
        content=content,
        status=status,
        error=error,
        run_id=run_id,
        created_at=at,
    )
    connection.execute(_INSERT_MESSAGE, message.model_dump())
    return message


def _get(connection: Connection, *, conversation_id: str) -> Conversation | None:
    query = select(conversation_table).where(conversation_table.c.id == conversation_id)
    row = connection.execute(query).first()
    return None if row is None else Conversation.model_validate(row)


def _page(connection: Connection, *, limit: int, offset: int) -> tuple[list[Conversation], int]:
    query = (
        select(conversation_table)
        .order_by(conversation_table.c.updated_at.desc(), conversation_table.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    rows = connection.execute(query).all()
    total = connection.scalar(select(func.count()).select_from(conversation_table))
    return [Conversation.model_validate(row) for row in rows], total or 0


def _delete(connection: Connection, *, conversation_id: str) -> bool:
    statement = (
        delete(conversation_table)
        .where(conversation_table.c.id == conversation_id)
        .returning(conversation_table.c.id)
    )
    return connection.execute(statement).first() is not None


def _messages(connection: Connection, *, conversation_id: str) -> list[Message]:
    query = (
        select(message_table)
        .where(message_table.c.conversation_id == conversation_id)
        .order_by(message_table.c.created_at, message_table.c.id)
    )
    return [Message.model_validate(row) for row in connection.execute(query)]
