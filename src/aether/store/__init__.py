"""Persistence: conversations, messages, runs and run events on SQLite or PostgreSQL.

`store = await Store.open(settings.effective_database_url)` migrates the database and returns the
facade; the repositories on it return immutable records and commit before they return.
`store.turns` writes a chat turn in few transactions: `open_turn`, then `finish_turn`.
"""

from aether.store.conversations import ConversationRepository
from aether.store.db import (
    Database,
    DatabaseUnavailableError,
    async_url,
    create_engine,
    database_for,
    session_factory,
)
from aether.store.errors import (
    ConversationNotFoundError,
    NotFoundError,
    RunNotFoundError,
    StoreError,
)
from aether.store.facade import Store

# Imported here so its table is on the models' metadata whenever the store is used.
from aether.store.feedback import Feedback, FeedbackRepository, Rating
from aether.store.migrate import upgrade_database, upgrade_database_sync

# The same for the proposals' tables.
from aether.store.proposals import ProposalRepository
from aether.store.records import (
    Conversation,
    FinishedTurn,
    Message,
    MessageRole,
    MessageStatus,
    OpenedTurn,
    Run,
    RunEvent,
    RunStatus,
)
from aether.store.runs import RunFilter, RunRepository
from aether.store.turns import TurnRepository

__all__ = [
    "Conversation",
    "ConversationNotFoundError",
    "ConversationRepository",
    "Database",
    "DatabaseUnavailableError",
    "Feedback",
    "FeedbackRepository",
    "FinishedTurn",
    "Message",
    "MessageRole",
    "MessageStatus",
    "NotFoundError",
    "OpenedTurn",
    "ProposalRepository",
    "Rating",
    "Run",
    "RunEvent",
    "RunFilter",
    "RunNotFoundError",
    "RunRepository",
    "RunStatus",
    "Store",
    "StoreError",
    "TurnRepository",
    "async_url",
    "create_engine",
    "database_for",
    "session_factory",
    "upgrade_database",
    "upgrade_database_sync",
]
