"""`Store`: one object the gateway holds for the whole persistence layer."""

from __future__ import annotations

from sqlalchemy import URL, select
from sqlalchemy.ext.asyncio import AsyncEngine

from aether.store.conversations import ConversationRepository
from aether.store.db import create_engine, session_factory
from aether.store.migrate import upgrade_database
from aether.store.runs import RunRepository


class Store:
    """The engine, its session factory and the repositories built on them."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = session_factory(engine)
        self.conversations = ConversationRepository(self.sessions)
        self.runs = RunRepository(self.sessions)

    @classmethod
    async def open(cls, url: str | URL, *, migrate: bool = True) -> Store:
        """Connect to `url`, first bringing its schema to the latest migration."""
        if migrate:
            await upgrade_database(url)
        return cls(create_engine(url))

    async def ping(self) -> None:
        """Round-trip to the database; raises if it is unreachable (for health checks)."""
        async with self.engine.connect() as connection:
            await connection.scalar(select(1))

    async def close(self) -> None:
        await self.engine.dispose()
