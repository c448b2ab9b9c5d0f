"""Run leases: when the gateway replica serving a run last vouched for it, and the answer it
had written by then, so that another replica can end the run if that replica dies.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the model's column type: later model changes must not rewrite history.
Instant = sa.DateTime(timezone=True)
RUNNING_ONLY = sa.text("status = 'running'")


def upgrade() -> None:
    op.add_column("runs", sa.Column("heartbeat_at", Instant, nullable=True))
    op.add_column("runs", sa.Column("partial_text", sa.Text(), nullable=True))
    # Runs left running by a release without leases count from their start: if nobody serves
    # them any more, the first replica of this release ends them.
    op.execute("UPDATE runs SET heartbeat_at = created_at WHERE status = 'running'")
    op.create_index(
        "ix_runs_running_heartbeat_at",
        "runs",
        ["heartbeat_at"],
        sqlite_where=RUNNING_ONLY,
        postgresql_where=RUNNING_ONLY,
    )


def downgrade() -> None:
    op.drop_index("ix_runs_running_heartbeat_at", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("partial_text")
        batch.drop_column("heartbeat_at")
