"""Persistence: conversations, messages, runs and run events on SQLite or PostgreSQL.

`store = await Store.open(settings.effective_database_url)` migrates the database and returns the
facade; the repositories on it return immutable records and commit before they return.
"""

from aether.store.conversations import ConversationRepository
from aether.store.db import async_url, create_engine, session_factory
from aether.store.errors import (
    ConversationNotFoundError,
    NotFoundError,
    RunNotFoundError,
    StoreError,
)
from aether.store.facade import Store
from aether.store.migrate import upgrade_database, upgrade_database_sync
from aether.store.records import (
    Conversation,
    Message,
    MessageRole,
    MessageStatus,
    Run,
    RunEvent,
    RunStatus,
)
from aether.store.runs import RunRepository

__all__ = [
    "Conversation",
    "ConversationNotFoundError",
    "ConversationRepository",
    "Message",
    "MessageRole",
    "MessageStatus",
    "NotFoundError",
    "Run",
    "RunEvent",
    "RunNotFoundError",
    "RunRepository",
    "RunStatus",
    "Store",
    "StoreError",
    "async_url",
    "create_engine",
    "session_factory",
    "upgrade_database",
    "upgrade_database_sync",
]
