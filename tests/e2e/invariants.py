"""What must hold in the database after any failure: nothing accepted is lost, nothing hangs.

- every accepted request (the gateway answered with its run id) has its user message, with the
  question, and its run;
- every run reaches a final state (`completed`, `failed`, `cancelled`): one whose gateway replica
  died is ended by another replica once its lease expires, so the check waits for that;
- a failed run carries its reason, and its reply (the partial answer) is stored as failed.

Checked by querying the mesh's database directly, around the services.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tests.deploy_harness import wait_for
from tests.e2e.postgres import Inspector

FINAL_STATES = frozenset({"completed", "failed", "cancelled"})
REAP_DEADLINE = 180.0
"""Generous: a lease of a few seconds, plus a heartbeat, on a loaded machine."""


def runs_left_running(db: Inspector) -> list[dict[str, Any]]:
    return db.rows("SELECT id, status, created_at FROM runs WHERE status = 'running'")


def wait_until_no_run_is_running(db: Inspector, timeout: float = REAP_DEADLINE) -> None:
    wait_for(
        lambda: not runs_left_running(db),
        timeout,
        "every run to reach a final state (a dead replica's runs are reaped after their lease)",
    )


def run_row(db: Inspector, run_id: str) -> dict[str, Any] | None:
    rows = db.rows("SELECT id, status, error, conversation_id FROM runs WHERE id = :id", id=run_id)
    return rows[0] if rows else None


def replies(db: Inspector, run_id: str) -> list[dict[str, Any]]:
    return db.rows(
        "SELECT content, status, error FROM messages WHERE run_id = :id AND role = 'assistant'",
        id=run_id,
    )


def assert_invariants(db: Inspector, accepted: Iterable[tuple[str, str]]) -> None:
    """`accepted`: (run id, question) of every request the gateways accepted."""
    wait_until_no_run_is_running(db)
    expected = dict(accepted)
    if expected:
        questions = {
            row["run_id"]: row["content"]
            for row in db.rows(
                "SELECT run_id, content FROM messages WHERE role = 'user' AND run_id = ANY(:ids)",
                ids=list(expected),
            )
        }
        lost = {run_id: q for run_id, q in expected.items() if questions.get(run_id) != q}
        assert lost == {}, f"accepted questions missing from the database: {lost}"
        runs = {
            row["id"]: row
            for row in db.rows(
                "SELECT id, status, error FROM runs WHERE id = ANY(:ids)", ids=list(expected)
            )
        }
        assert set(runs) == set(expected), f"runs missing: {set(expected) - set(runs)}"
    states = db.rows("SELECT status, count(*) AS n FROM runs GROUP BY status")
    assert {row["status"] for row in states} <= FINAL_STATES, states
    unexplained = db.rows("SELECT id FROM runs WHERE status = 'failed' AND error IS NULL")
    assert unexplained == [], f"failed runs without a reason: {unexplained}"
