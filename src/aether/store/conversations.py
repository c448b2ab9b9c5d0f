"""Conversations and their messages."""

from __future__ import annotations

import builtins
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aether.store.errors import ConversationNotFoundError
from aether.store.models import ConversationRow, MessageRow
from aether.store.records import Conversation, Message, MessageRole, MessageStatus
from aether.store.types import require_aware, utcnow


class ConversationRepository:
    """Every method is one committed transaction, so callers never manage sessions."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, title: str | None = None) -> Conversation:
        now = utcnow()
        row = ConversationRow(title=title, created_at=now, updated_at=now)
        async with self._sessions.begin() as session:
            session.add(row)
        return Conversation.model_validate(row)

    async def get(self, conversation_id: str) -> Conversation | None:
        async with self._sessions.begin() as session:
            row = await session.get(ConversationRow, conversation_id)
            return None if row is None else Conversation.model_validate(row)

    async def list(
        self, limit: int = 20, offset: int = 0
    ) -> tuple[builtins.list[Conversation], int]:
        """One page, most recently active first, and the total number of conversations."""
        if limit < 1 or offset < 0:
            raise ValueError(f"need limit >= 1 and offset >= 0, got {limit=} {offset=}")
        query = (
            select(ConversationRow)
            .order_by(ConversationRow.updated_at.desc(), ConversationRow.id.desc())
            .limit(limit)
            .offset(offset)
        )
        async with self._sessions.begin() as session:
            rows = (await session.scalars(query)).all()
            total = await session.scalar(select(func.count()).select_from(ConversationRow))
        return [Conversation.model_validate(row) for row in rows], total or 0

    async def delete(self, conversation_id: str) -> bool:
        """Delete a conversation with its messages, runs and run events; False if it was absent."""
        statement = (
            delete(ConversationRow)
            .where(ConversationRow.id == conversation_id)
            .returning(ConversationRow.id)
        )
        async with self._sessions.begin() as session:
            return await session.scalar(statement) is not None

    async def touch(self, conversation_id: str, at: datetime | None = None) -> None:
        """Mark the conversation active at `at` (default: now), moving it up in `list`."""
        async with self._sessions.begin() as session:
            await _touch(session, conversation_id, utcnow() if at is None else require_aware(at))

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
        now = utcnow()
        row = MessageRow(
            conversation_id=conversation_id,
            role=MessageRole(role),
            content=content,
            run_id=run_id,
            status=MessageStatus(status),
            error=error,
            created_at=now,
        )
        async with self._sessions.begin() as session:
            await _touch(session, conversation_id, now)
            session.add(row)
        return Message.model_validate(row)

    async def messages(self, conversation_id: str) -> builtins.list[Message]:
        """The conversation's messages, oldest first; empty if it does not exist."""
        query = (
            select(MessageRow)
            .where(MessageRow.conversation_id == conversation_id)
            .order_by(MessageRow.created_at, MessageRow.id)
        )
        async with self._sessions.begin() as session:
            rows = (await session.scalars(query)).all()
        return [Message.model_validate(row) for row in rows]


async def _touch(session: AsyncSession, conversation_id: str, at: datetime) -> None:
    statement = (
        update(ConversationRow)
        .where(ConversationRow.id == conversation_id)
        .values(updated_at=at)
        .returning(ConversationRow.id)
    )
    if await session.scalar(statement) is None:
        raise ConversationNotFoundError(conversation_id)
