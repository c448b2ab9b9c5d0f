"""Proposals (Home Assistant automations waiting for, or past, a person's decision), their audit
trail, and the questions agents asked about them in a conversation.

Every status change is one transaction: a conditional UPDATE (it only applies from the statuses
the action allows, so two concurrent decisions cannot both win) and the audit row that records
who did it, when and why. A proposal outlives its conversation (its automation may be running
in Home Assistant): deleting the conversation only clears the link. The tables and records are
in `aether.store.proposal_tables`.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, RowMapping, func, select, update
from sqlalchemy.exc import IntegrityError

from aether.agents.proposals.model import ProposalDraft, ProposalStatus
from aether.store.db import Database
from aether.store.models import new_id
from aether.store.proposal_tables import (
    ApprovalRequest,
    AuditEntry,
    InvalidTransitionError,
    ProposalFilter,
    ProposalNotFoundError,
    RequestStatus,
    StoredProposal,
    Transition,
    audit_table,
    entity_table,
    proposal_table,
    request_table,
)
from aether.store.types import utcnow

__all__ = [
    "ApprovalRequest",
    "AuditEntry",
    "InvalidTransitionError",
    "ProposalFilter",
    "ProposalNotFoundError",
    "ProposalRepository",
    "RequestStatus",
    "StoredProposal",
    "Transition",
]


# --- the repository ---------------------------------------------------------------------------


class ProposalRepository:
    """Every method is one committed transaction."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def add(
        self,
        draft: ProposalDraft,
        *,
        actor: str,
        conversation_id: str | None = None,
        run_id: str | None = None,
    ) -> StoredProposal:
        """Store a drafted proposal as `proposed`, with the audit entry that says who drafted it.
        Adding an id that exists already returns the stored proposal unchanged (an event that
        was delivered twice)."""
        work = partial(
            _insert,
            draft=draft,
            actor=actor,
            conversation_id=conversation_id,
            run_id=run_id,
            at=utcnow(),
        )
        try:
            await self._database.write(work)
        except IntegrityError:
            if await self.get(draft.id) is None:
                raise
        stored = await self.get(draft.id)
        assert stored is not None
        return stored

    async def get(self, proposal_id: str) -> StoredProposal | None:
        found = await self._database.read(partial(_select, ids=[proposal_id]))
        return found[0] if found else None

    async def list(
        self, where: ProposalFilter | None = None, *, limit: int = 50, offset: int = 0
    ) -> tuple[builtins.list[StoredProposal], int]:
        """One page of the matching proposals, newest first, and how many match in all."""
        if limit < 1 or offset < 0:
            raise ValueError(f"need limit >= 1 and offset >= 0, got {limit=} {offset=}")
        work = partial(_page, where=where or ProposalFilter(), limit=limit, offset=offset)
        return await self._database.read(work)

    async def transition(self, proposal_id: str, change: Transition) -> StoredProposal:
        """Apply `change` and record it; ProposalNotFoundError, or InvalidTransitionError when
        the proposal's status does not allow it."""
        await self._database.write(
            partial(_transition, proposal_id=proposal_id, change=change, at=utcnow())
        )
        stored = await self.get(proposal_id)
        assert stored is not None
        return stored

    async def note(
        self,
        proposal_id: str,
        action: str,
        *,
        actor: str,
        reason: str | None,
        detail: dict[str, Any],
    ) -> None:
        """Record an attempt that changed nothing (a deployment Home Assistant refused)."""
        work = partial(
            _note,
            proposal_id=proposal_id,
            action=action,
            actor=actor,
            reason=reason,
            detail=detail,
            at=utcnow(),
        )
        await self._database.write(work)

    async def add_request(
        self,
        *,
        conversation_id: str,
        run_id: str | None,
        agent: str,
        task_id: str,
        context_id: str,
        proposal_ids: Sequence[str],
        question: str,
    ) -> ApprovalRequest:
        """Record a question waiting for the user; it supersedes the conversation's open one."""
        request = ApprovalRequest(
            id=new_id(),
            conversation_id=conversation_id,
            run_id=run_id,
            agent=agent,
            task_id=task_id,
            context_id=context_id,
            proposal_ids=builtins.list(proposal_ids),
            question=question,
            status=RequestStatus.OPEN,
            created_at=utcnow(),
            answered_at=None,
            answer_run_id=None,
        )
        await self._database.write(partial(_insert_request, request=request))
        return request

    async def open_request(self, conversation_id: str) -> ApprovalRequest | None:
        """The conversation's question still waiting for an answer, if any."""
        return await self._database.read(partial(_open_request, conversation_id=conversation_id))

    async def close_request(
        self, request_id: str, status: RequestStatus, answer_run_id: str | None
    ) -> bool:
        """Close an open question; False if it was no longer open (answered concurrently)."""
        work = partial(
            _close_request,
            request_id=request_id,
            status=status,
            answer_run_id=answer_run_id,
            at=utcnow(),
        )
        return await self._database.write(work)


# --- units of work ----------------------------------------------------------------------------


def _insert(
    connection: Connection,
    *,
    draft: ProposalDraft,
    actor: str,
    conversation_id: str | None,
    run_id: str | None,
    at: datetime,
) -> None:
    connection.execute(
        proposal_table.insert(),
        {
            "id": draft.id,
            "kind": draft.kind,
            "status": ProposalStatus.PROPOSED,
            "title": draft.title,
            "automation_id": draft.automation_id,
            "automation": draft.automation,
            "justification": draft.justification.model_dump(mode="json"),
            "saving": draft.saving.model_dump(mode="json"),
            "confidence": draft.confidence,
            "conversation_id": conversation_id,
            "run_id": run_id,
            "rejection_reason": None,
            "previous_config": None,
            "deployed_to": None,
            "created_at": at,
            "updated_at": at,
        },
    )
    entities = sorted(set(draft.entities))
    if entities:
        connection.execute(
            entity_table.insert(), [{"proposal_id": draft.id, "entity_id": e} for e in entities]
        )
    _audit(
        connection,
        draft.id,
        "proposed",
        None,
        ProposalStatus.PROPOSED,
        actor,
        None,
        {"automation_id": draft.automation_id, "kind": draft.kind.value},
        at,
    )


def _transition(
    connection: Connection, *, proposal_id: str, change: Transition, at: datetime
) -> None:
    current = connection.execute(
        select(proposal_table.c.status).where(proposal_table.c.id == proposal_id)
    ).scalar_one_or_none()
    if current is None:
        raise ProposalNotFoundError(proposal_id)
    status = ProposalStatus(current)
    if status not in change.allowed:
        raise InvalidTransitionError(
            proposal_id, change.action, status, [s.value for s in change.allowed]
        )
    changed = connection.execute(
        update(proposal_table)
        .where(proposal_table.c.id == proposal_id, proposal_table.c.status == status)
        .values(status=change.to, updated_at=at, **change.values)
    ).rowcount
    if changed != 1:  # another writer changed it between the read and the update
        raise InvalidTransitionError(
            proposal_id, change.action, status, [s.value for s in change.allowed]
        )
    _audit(
        connection,
        proposal_id,
        change.action,
        status,
        change.to,
        change.actor,
        change.reason,
        change.detail,
        at,
    )


def _note(
    connection: Connection,
    *,
    proposal_id: str,
    action: str,
    actor: str,
    reason: str | None,
    detail: dict[str, Any],
    at: datetime,
) -> None:
    current = connection.execute(
        select(proposal_table.c.status).where(proposal_table.c.id == proposal_id)
    ).scalar_one_or_none()
    if current is None:
        raise ProposalNotFoundError(proposal_id)
    status = ProposalStatus(current)
    _audit(connection, proposal_id, action, status, status, actor, reason, detail, at)


def _audit(
    connection: Connection,
    proposal_id: str,
    action: str,
    from_status: ProposalStatus | None,
    to_status: ProposalStatus,
    actor: str,
    reason: str | None,
    detail: dict[str, Any],
    at: datetime,
) -> None:
    connection.execute(
        audit_table.insert(),
        {
            "proposal_id": proposal_id,
            "action": action,
            "from_status": from_status.value if from_status is not None else None,
            "to_status": to_status.value,
            "actor": actor[:200],
            "reason": reason,
            "detail": detail,
            "created_at": at,
        },
    )


def _filtered(query: Any, where: ProposalFilter) -> Any:
    if where.status is not None:
        query = query.where(proposal_table.c.status == where.status)
    if where.conversation_id is not None:
        query = query.where(proposal_table.c.conversation_id == where.conversation_id)
    if where.entity_id is not None:
        owners = select(entity_table.c.proposal_id).where(
            entity_table.c.entity_id == where.entity_id
        )
        query = query.where(proposal_table.c.id.in_(owners))
    return query


def _page(
    connection: Connection, *, where: ProposalFilter, limit: int, offset: int
) -> tuple[list[StoredProposal], int]:
    total = connection.execute(
        _filtered(select(func.count()).select_from(proposal_table), where)
    ).scalar_one()
    ids = connection.execute(
        _filtered(select(proposal_table.c.id), where)
        .order_by(proposal_table.c.created_at.desc(), proposal_table.c.id)
        .limit(limit)
        .offset(offset)
    ).scalars()
    return _select(connection, ids=list(ids)), int(total)


def _select(connection: Connection, *, ids: list[str]) -> list[StoredProposal]:
    """The proposals with these ids, with entities and audit, in the order of `ids`."""
    if not ids:
        return []
    rows = connection.execute(select(proposal_table).where(proposal_table.c.id.in_(ids)))
    by_id = {row.id: row._mapping for row in rows}
    entities: dict[str, list[str]] = {pid: [] for pid in ids}
    for proposal_id, entity_id in connection.execute(
        select(entity_table.c.proposal_id, entity_table.c.entity_id)
        .where(entity_table.c.proposal_id.in_(ids))
        .order_by(entity_table.c.entity_id)
    ):
        entities[proposal_id].append(entity_id)
    audits: dict[str, list[AuditEntry]] = {pid: [] for pid in ids}
    for row in connection.execute(
        select(audit_table).where(audit_table.c.proposal_id.in_(ids)).order_by(audit_table.c.id)
    ):
        audits[row.proposal_id].append(AuditEntry.model_validate(row._mapping))
    return [_proposal(by_id[pid], entities[pid], audits[pid]) for pid in ids if pid in by_id]


def _proposal(row: RowMapping, entities: list[str], audit: list[AuditEntry]) -> StoredProposal:
    return StoredProposal.model_validate({**row, "entities": entities, "audit": audit})


def _insert_request(connection: Connection, *, request: ApprovalRequest) -> None:
    connection.execute(
        update(request_table)
        .where(
            request_table.c.conversation_id == request.conversation_id,
            request_table.c.status == RequestStatus.OPEN,
        )
        .values(status=RequestStatus.SUPERSEDED, answered_at=request.created_at)
    )
    connection.execute(request_table.insert(), request.model_dump())


def _open_request(connection: Connection, *, conversation_id: str) -> ApprovalRequest | None:
    row = connection.execute(
        select(request_table)
        .where(
            request_table.c.conversation_id == conversation_id,
            request_table.c.status == RequestStatus.OPEN,
        )
        .order_by(request_table.c.created_at.desc())
        .limit(1)
    ).first()
    return None if row is None else ApprovalRequest.model_validate(row._mapping)


def _close_request(
    connection: Connection,
    *,
    request_id: str,
    status: RequestStatus,
    answer_run_id: str | None,
    at: datetime,
) -> bool:
    changed = connection.execute(
        update(request_table)
        .where(request_table.c.id == request_id, request_table.c.status == RequestStatus.OPEN)
        .values(status=status, answered_at=at, answer_run_id=answer_run_id)
    ).rowcount
    return bool(changed == 1)
