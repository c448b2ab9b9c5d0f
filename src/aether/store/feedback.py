"""Users' feedback on runs: thumbs up or down and a comment, one row per submission.

The table is declared here, on the models' metadata (so migrations and the schema check see it),
rather than in `aether.store.models`, because only this repository reads or writes it. When
tracing is on, the gateway also logs each submission on the run's MLflow trace and records the
trace's id here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import cast

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import Connection, Enum, ForeignKey, String, Table, Text, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from aether.store.db import Database
from aether.store.errors import RunNotFoundError
from aether.store.models import Base, new_id
from aether.store.types import utcnow


class Rating(StrEnum):
    UP = "up"
    DOWN = "down"


class Feedback(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: str
    run_id: str
    rating: Rating
    comment: str | None
    trace_id: str | None
    """The MLflow trace it was logged on; None while tracing is off or the trace is not found."""
    created_at: AwareDatetime


class FeedbackRow(Base):
    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    rating: Mapped[Rating] = mapped_column(
        Enum(
            Rating,
            name="feedback_rating",
            native_enum=False,
            create_constraint=True,
            length=8,
            values_callable=lambda members: [member.value for member in members],
        )
    )
    comment: Mapped[str | None] = mapped_column(Text)
    trace_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


feedback_table = cast(Table, FeedbackRow.__table__)

_INSERT = feedback_table.insert()
_SET_TRACE = (
    update(feedback_table)
    .where(feedback_table.c.id == bindparam("feedback_id"))
    .values(trace_id=bindparam("trace_id"))
)


class FeedbackRepository:
    """Every method is one committed transaction."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def add(self, run_id: str, rating: Rating, comment: str | None) -> Feedback:
        """Store a submission; `RunNotFoundError` if the run does not exist."""
        feedback = Feedback(
            id=new_id(),
            run_id=run_id,
            rating=rating,
            comment=comment,
            trace_id=None,
            created_at=utcnow(),
        )
        try:
            await self._database.write(partial(_insert, feedback=feedback))
        except IntegrityError as exc:  # the only constraint that can fail is the run FK
            raise RunNotFoundError(run_id) from exc
        return feedback

    async def set_trace(self, feedback_id: str, trace_id: str) -> None:
        await self._database.write(partial(_set_trace, feedback_id=feedback_id, trace_id=trace_id))

    async def for_run(self, run_id: str) -> list[Feedback]:
        """The run's feedback, oldest first."""
        return await self._database.read(partial(_for_run, run_id=run_id))


def _insert(connection: Connection, *, feedback: Feedback) -> None:
    connection.execute(_INSERT, feedback.model_dump())


def _set_trace(connection: Connection, *, feedback_id: str, trace_id: str) -> None:
    connection.execute(_SET_TRACE, {"feedback_id": feedback_id, "trace_id": trace_id})


def _for_run(connection: Connection, *, run_id: str) -> list[Feedback]:
    query = (
        select(feedback_table)
        .where(feedback_table.c.run_id == run_id)
        .order_by(feedback_table.c.created_at, feedback_table.c.id)
    )
    return [Feedback.model_validate(row) for row in connection.execute(query)]
