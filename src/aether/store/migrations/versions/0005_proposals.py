"""Proposals: Home Assistant automations awaiting or past a decision, their audit trail, the
entities they touch, and the questions agents asked about them.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model's column types: later model changes must not rewrite history.
Instant = sa.DateTime(timezone=True)
EventId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATUSES = ("proposed", "approved", "rejected", "deployed", "rolled_back")
KINDS = ("routine", "night_off", "load_shift")
REQUEST_STATUSES = ("open", "answered", "superseded", "expired")


def _one_of(column: str, values: Sequence[str]) -> sa.TextClause:
    return sa.text(f"{column} IN ({', '.join(repr(value) for value in values)})")


def upgrade() -> None:
    op.create_table(
        "proposals",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("automation_id", sa.String(128), nullable=False),
        sa.Column("automation", sa.JSON(), nullable=False),
        sa.Column("justification", sa.JSON(), nullable=False),
        sa.Column("saving", sa.JSON(), nullable=False),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("conversation_id", sa.String(36), nullable=True),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("previous_config", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("deployed_to", sa.String(300), nullable=True),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposals")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_proposals_conversation_id_conversations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_proposals_run_id_runs"), ondelete="SET NULL"
        ),
        sa.CheckConstraint(_one_of("kind", KINDS), name=op.f("ck_proposals_proposal_kind")),
        sa.CheckConstraint(_one_of("status", STATUSES), name=op.f("ck_proposals_proposal_status")),
    )
    op.create_index(op.f("ix_proposals_status"), "proposals", ["status"])
    op.create_index(op.f("ix_proposals_automation_id"), "proposals", ["automation_id"])
    op.create_index(op.f("ix_proposals_conversation_id"), "proposals", ["conversation_id"])

    op.create_table(
        "proposal_entities",
        sa.Column("proposal_id", sa.String(36), nullable=False),
        sa.Column("entity_id", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("proposal_id", "entity_id", name=op.f("pk_proposal_entities")),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_proposal_entities_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_proposal_entities_entity_id"), "proposal_entities", ["entity_id"])

    op.create_table(
        "proposal_audit",
        sa.Column("id", EventId, autoincrement=True, nullable=False),
        sa.Column("proposal_id", sa.String(36), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal_audit")),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_proposal_audit_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_proposal_audit_proposal_id"), "proposal_audit", ["proposal_id"])

    op.create_table(
        "approval_requests",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("conversation_id", sa.String(36), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("context_id", sa.String(64), nullable=False),
        sa.Column("proposal_ids", sa.JSON(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("answered_at", Instant, nullable=True),
        sa.Column("answer_run_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_requests")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_approval_requests_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_approval_requests_run_id_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["answer_run_id"],
            ["runs.id"],
            name=op.f("fk_approval_requests_answer_run_id_runs"),
            ondelete="SET NULL",
        ),
        sa.CheckConstraint(
            _one_of("status", REQUEST_STATUSES), name=op.f("ck_approval_requests_request_status")
        ),
    )
    op.create_index(
        "ix_approval_requests_conversation_id_status",
        "approval_requests",
        ["conversation_id", "status"],
    )


def downgrade() -> None:
    op.drop_table("approval_requests")
    op.drop_table("proposal_audit")
    op.drop_table("proposal_entities")
    op.drop_table("proposals")
