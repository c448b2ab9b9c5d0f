"""`/api/v1/proposals`: the automations Aether proposed, and the decisions about them.

    GET  /proposals?status=&entity=&conversation_id=   newest first
    GET  /proposals/{id}                               with its YAML and audit trail
    GET  /proposals/{id}/yaml                          approved ones, for automations.yaml
    POST /proposals/{id}/approve   {"reason"?}         proposed -> approved
    POST /proposals/{id}/reject    {"reason"}          proposed | approved -> rejected
    POST /proposals/{id}/deploy                        approved -> deployed (Home Assistant)
    POST /proposals/{id}/rollback  {"reason"?}         deployed -> rolled_back

Every decision is recorded with the caller's identity (their API key's fingerprint), the time
and the reason. A move the lifecycle does not allow is a 409 `invalid_transition`; deploying
without Home Assistant a 409 `home_assistant_not_configured`; Home Assistant refusing a 502
`home_assistant_error`. Errors have OpenAI's shape.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from aether.agents.proposals.automation import to_yaml
from aether.agents.proposals.lifecycle import (
    DeploymentFailedError,
    DeploymentUnavailableError,
    ProposalService,
)
from aether.agents.proposals.model import (
    Justification,
    ProposalKind,
    ProposalStatus,
    Saving,
)
from aether.gateway.auth import caller_identity, require_api_key
from aether.gateway.errors import ApiError
from aether.store.proposals import (
    AuditEntry,
    InvalidTransitionError,
    ProposalFilter,
    ProposalNotFoundError,
    StoredProposal,
)

router = APIRouter(prefix="/api/v1/proposals", dependencies=[Depends(require_api_key)])

YAML_MEDIA_TYPE = "application/yaml"
T = TypeVar("T")


class AuditOut(BaseModel):
    action: str
    from_status: ProposalStatus | None
    to_status: ProposalStatus
    actor: str
    reason: str | None
    detail: dict[str, Any]
    at: datetime


class ProposalOut(BaseModel):
    id: str
    object: Literal["proposal"] = "proposal"
    kind: ProposalKind
    status: ProposalStatus
    title: str
    entities: list[str]
    automation_id: str
    """The automation's id in Home Assistant."""
    automation: dict[str, Any]
    yaml: str
    justification: Justification
    saving: Saving
    confidence: float
    conversation_id: str | None
    run_id: str | None
    rejection_reason: str | None
    deployed_to: str | None
    replaced_existing: bool | None
    """Once deployed: whether the automation's id held another automation (rollback restores
    it) or nothing (rollback deletes it)."""
    created_at: datetime
    updated_at: datetime
    audit: list[AuditOut]


class ProposalPage(BaseModel):
    object: Literal["list"] = "list"
    data: list[ProposalOut]
    total: int
    limit: int
    offset: int


class Decision(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


class Rejection(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    """Why the proposal is turned down: required, and kept in the audit trail."""


def _service(request: Request) -> ProposalService:
    service: ProposalService = request.app.state.proposals
    return service


ServiceDep = Annotated[ProposalService, Depends(_service)]
CallerDep = Annotated[str, Depends(caller_identity)]


@router.get("")
async def list_proposals(
    service: ServiceDep,
    status: ProposalStatus | None = None,
    entity: Annotated[str | None, Query(max_length=255, description="an entity id")] = None,
    conversation_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ProposalPage:
    """Proposals, newest first, optionally only those with a status, touching an entity or
    from a conversation."""
    where = ProposalFilter(status=status, entity_id=entity, conversation_id=conversation_id)
    proposals, total = await service.list(where, limit=limit, offset=offset)
    return ProposalPage(data=[_out(p) for p in proposals], total=total, limit=limit, offset=offset)


@router.get("/{proposal_id}")
async def get_proposal(proposal_id: str, service: ServiceDep) -> ProposalOut:
    return _out(await _found(service.get(proposal_id)))


@router.get("/{proposal_id}/yaml", response_class=PlainTextResponse)
async def proposal_yaml(proposal_id: str, service: ServiceDep) -> PlainTextResponse:
    """The automation as a YAML list item for automations.yaml; approved proposals only."""
    text = await _decided(service.export_yaml(proposal_id))
    return PlainTextResponse(
        text,
        media_type=YAML_MEDIA_TYPE,
        headers={"Content-Disposition": f'inline; filename="aether-{proposal_id}.yaml"'},
    )


@router.post("/{proposal_id}/approve")
async def approve(
    proposal_id: str, service: ServiceDep, caller: CallerDep, body: Decision | None = None
) -> ProposalOut:
    reason = body.reason if body is not None else None
    return _out(await _decided(service.approve(proposal_id, actor=caller, reason=reason)))


@router.post("/{proposal_id}/reject")
async def reject(
    proposal_id: str, body: Rejection, service: ServiceDep, caller: CallerDep
) -> ProposalOut:
    if not body.reason.strip():
        raise ApiError(
            400, "reason: say why the proposal is rejected.", param="reason", code="invalid_value"
        )
    return _out(await _decided(service.reject(proposal_id, actor=caller, reason=body.reason)))


@router.post("/{proposal_id}/deploy")
async def deploy(proposal_id: str, service: ServiceDep, caller: CallerDep) -> ProposalOut:
    return _out(await _decided(service.deploy(proposal_id, actor=caller)))


@router.post("/{proposal_id}/rollback")
async def rollback(
    proposal_id: str, service: ServiceDep, caller: CallerDep, body: Decision | None = None
) -> ProposalOut:
    reason = body.reason if body is not None else None
    return _out(await _decided(service.rollback(proposal_id, actor=caller, reason=reason)))


async def _found(work: Awaitable[T]) -> T:
    """`work` awaited, a missing proposal as a 404."""
    try:
        return await work
    except ProposalNotFoundError as exc:
        raise ApiError(
            404,
            f"Proposal {exc.record_id!r} does not exist.",
            param="proposal_id",
            code="proposal_not_found",
        ) from None


async def _decided(work: Awaitable[T]) -> T:
    """`work` awaited, the lifecycle's refusals as OpenAI-style errors."""
    try:
        return await _found(work)
    except InvalidTransitionError as exc:
        raise ApiError(409, str(exc), code="invalid_transition") from None
    except DeploymentUnavailableError as exc:
        raise ApiError(409, str(exc), code="home_assistant_not_configured") from None
    except DeploymentFailedError as exc:
        raise ApiError(502, exc.message, code="home_assistant_error", param=exc.code) from None


def _out(proposal: StoredProposal) -> ProposalOut:
    deployed = proposal.status in (ProposalStatus.DEPLOYED, ProposalStatus.ROLLED_BACK)
    return ProposalOut(
        id=proposal.id,
        kind=proposal.kind,
        status=proposal.status,
        title=proposal.title,
        entities=proposal.entities,
        automation_id=proposal.automation_id,
        automation=proposal.automation,
        yaml=to_yaml(proposal.automation),
        justification=proposal.justification,
        saving=proposal.saving,
        confidence=proposal.confidence,
        conversation_id=proposal.conversation_id,
        run_id=proposal.run_id,
        rejection_reason=proposal.rejection_reason,
        deployed_to=proposal.deployed_to,
        replaced_existing=(proposal.previous_config is not None) if deployed else None,
        created_at=proposal.created_at,
        updated_at=proposal.updated_at,
        audit=[_audit(entry) for entry in proposal.audit],
    )


def _audit(entry: AuditEntry) -> AuditOut:
    return AuditOut(
        action=entry.action,
        from_status=entry.from_status,
        to_status=entry.to_status,
        actor=entry.actor,
        reason=entry.reason,
        detail=entry.detail,
        at=entry.created_at,
    )
