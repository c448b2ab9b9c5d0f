"""A2A tasks: the a2a-sdk's task table and the version and event tables of its clustered store.

The SDK would create these itself when a service starts; replicas starting together would then
race. Here they are created once, like the rest of the schema. They are frozen copies of the
SDK's models (`a2a.server.models`, a2a-sdk 1.3.0): the same names, types, lengths and indexes,
so the SDK's own queries and migrations find what they expect. A test compares them with the
installed SDK's models, so an SDK upgrade that changes its schema is noticed.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments an INTEGER PRIMARY KEY; the SDK uses BIGINT elsewhere.
EventSeq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # A service of an earlier release created `tasks` itself at start (the SDK's store with
    # its default `create_table`): that table is the SDK's model already, and is kept.
    if "tasks" not in sa.inspect(op.get_bind()).get_table_names():
        op.create_table(
            "tasks",
            sa.Column("id", sa.String(36), nullable=False),
            sa.Column("context_id", sa.String(36), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("owner", sa.String(255), nullable=True),
            sa.Column("last_updated", sa.DateTime(), nullable=True),
            sa.Column("status", sa.JSON(), nullable=False),
            sa.Column("artifacts", sa.JSON(), nullable=True),
            sa.Column("history", sa.JSON(), nullable=True),
            sa.Column("protocol_version", sa.String(16), nullable=True),
            sa.Column("metadata", sa.JSON(), nullable=True),
            sa.PrimaryKeyConstraint("id", name="tasks_pkey"),
        )
        op.create_index("ix_tasks_id", "tasks", ["id"])
        op.create_index("idx_tasks_owner_last_updated", "tasks", ["owner", "last_updated"])

    op.create_table(
        "task_versions",
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name="task_versions_pkey"),
    )

    op.create_table(
        "task_events",
        sa.Column("seq", EventSeq, nullable=False, autoincrement=True),
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("task_version", sa.BigInteger(), nullable=False),
        sa.Column("event_data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="task_events_pkey"),
    )
    op.create_index("ix_task_events_task_id", "task_events", ["task_id"])


def downgrade() -> None:
    op.drop_index("ix_task_events_task_id", table_name="task_events")
    op.drop_table("task_events")
    op.drop_table("task_versions")
    op.drop_index("idx_tasks_owner_last_updated", table_name="tasks")
    op.drop_index("ix_tasks_id", table_name="tasks")
    op.drop_table("tasks")
