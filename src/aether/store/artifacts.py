"""Artifacts of analysis jobs (charts, tables), stored by content hash and served by the gateway.

The id is the content's SHA-256, so saving the same chart twice keeps one row; the sandbox has
already checked type, size and content (`aether.sandbox.artifacts`). Like the feedback table, the
table is declared here, on the models' metadata, because only this repository uses it.
`ArtifactFile` and `ArtifactRef` live here too, below the sandbox that produces them.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import cast

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Integer, LargeBinary, String, Table, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from aether.store.db import Database
from aether.store.models import Base
from aether.store.types import utcnow


class ArtifactFile(BaseModel):
    """A validated artifact with its content, between the sandbox and the store."""

    model_config = ConfigDict(frozen=True)

    name: str
    media_type: str
    sha256: str
    content: bytes = Field(repr=False)

    @property
    def size(self) -> int:
        return len(self.content)


class ArtifactRef(BaseModel):
    """How findings and answers refer to a stored artifact."""

    id: str
    name: str
    media_type: str
    size: int

    @property
    def url(self) -> str:
        return f"/api/v1/artifacts/{self.id}"


class Artifact(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: str
    name: str
    media_type: str
    size: int
    content: bytes = Field(repr=False)
    created_at: AwareDatetime


class ArtifactRow(Base):
    __tablename__ = "artifacts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    media_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


artifacts_table = cast(Table, ArtifactRow.__table__)


class ArtifactRepository:
    """Every method is one committed transaction; `save` is an `ArtifactSink`."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def save(self, files: list[ArtifactFile]) -> list[ArtifactRef]:
        if files:
            await self._database.write(partial(_insert_new, files=files))
        return [
            ArtifactRef(id=file.sha256, name=file.name, media_type=file.media_type, size=file.size)
            for file in files
        ]

    async def get(self, artifact_id: str) -> Artifact | None:
        return await self._database.read(partial(_get, artifact_id=artifact_id))


def _insert_new(connection: Connection, *, files: list[ArtifactFile]) -> None:
    """Content already stored under its hash is left as it is, also when another writer stored
    it a moment ago."""
    rows = {
        file.sha256: {
            "id": file.sha256,
            "name": file.name,
            "media_type": file.media_type,
            "size": file.size,
            "content": file.content,
            "created_at": utcnow(),
        }
        for file in files
    }
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    connection.execute(
        insert(artifacts_table).on_conflict_do_nothing(index_elements=["id"]), list(rows.values())
    )


def _get(connection: Connection, *, artifact_id: str) -> Artifact | None:
    row = connection.execute(select(artifacts_table).where(artifacts_table.c.id == artifact_id))
    found = row.first()
    return None if found is None else Artifact.model_validate(found)
