"""`Store`: one object the gateway holds for the whole persistence layer."""

from __future__ import annotations

from sqlalchemy import URL, Connection, select
from sqlalchemy.ext.asyncio import AsyncEngine

from aether.store.artifacts import ArtifactRepository
from aether.store.conversations import ConversationRepository
from aether.store.db import create_engine, database_for
from aether.store.feedback import FeedbackRepository
from aether.store.idempotency import IdempotencyRepository
from aether.store.migrate import upgrade_database
from aether.store.run_leases import RunLeaseRepository
from aether.store.runs import RunRepository
from aether.store.turns import TurnRepository


class Store:
    """The engine, the transaction runner on it and the repositories built on that."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.database = database_for(engine)
        self.conversations = ConversationRepository(self.database)
        self.runs = RunRepository(self.database)
        self.run_leases = RunLeaseRepository(self.database)
        self.turns = TurnRepository(self.database)
        self.idempotency = IdempotencyRepository(self.database)
        self.artifacts = ArtifactRepository(self.database)
        self.feedback = FeedbackRepository(self.database)

    @classmethod
    async def open(cls, url: str | URL, *, migrate: bool = True) -> Store:
        """Connect to `url`, first bringing its schema to the latest migration."""
        if migrate:
            await upgrade_database(url)
        return cls(create_engine(url))

    async def ping(self) -> None:
        """Round-trip to the database the way the repositories do; raises if it is unreachable
        (for health checks)."""
        await self.database.read(_select_one)

    async def close(self) -> None:
        await self.database.close()
        await self.engine.dispose()


def _select_one(connection: Connection) -> None:
    connection.execute(select(1))
