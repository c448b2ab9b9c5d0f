"""`/api/v1/runs`: what happened in a run, its findings, and its event log (also live, over SSE).

Events live in the database, so any gateway replica can serve them, and a client that reconnects
with `Last-Event-ID` resumes exactly after the last event it saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel
from sse_starlette import EventSourceResponse, ServerSentEvent

from aether.analysis.findings import Finding
from aether.gateway.auth import require_api_key
from aether.gateway.errors import ApiError
from aether.store import Run, RunEvent, RunStatus, Store

router = APIRouter(prefix="/api/v1/runs", dependencies=[Depends(require_api_key)])

POLL_SECONDS = 0.25
"""How often a live event stream looks for new events; the database is the only channel, so
every replica sees every run."""


class RunOut(BaseModel):
    id: str
    object: Literal["run"] = "run"
    conversation_id: str
    model: str
    agent_requested: str
    agent: str | None
    routing_reason: str | None
    routing_confidence: float | None
    status: RunStatus
    error: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    created_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    findings: list[Finding]


class EventOut(BaseModel):
    id: int
    seq: int
    type: str
    payload: dict[str, Any]
    created_at: datetime


class RunEnd(BaseModel):
    """Last frame of a live event stream."""

    status: str


class EventPage(BaseModel):
    object: Literal["list"] = "list"
    data: list[EventOut]
    has_more: bool


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(_store)]


@router.get("/{run_id}")
async def get_run(run_id: str, store: StoreDep) -> RunOut:
    run = await _existing(store, run_id)
    events = await store.runs.events(run_id)
    return _run_out(run, events)


@router.get("/{run_id}/events")
async def list_events(
    run_id: str,
    store: StoreDep,
    after: Annotated[int | None, Query(ge=0, description="cursor: the last event id seen")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    await _existing(store, run_id)
    events = await store.runs.events(run_id, after_id=after, limit=limit + 1)
    return EventPage(data=[_event_out(e) for e in events[:limit]], has_more=len(events) > limit)


@router.get("/{run_id}/events/stream", response_model=None)
async def stream_events(
    run_id: str,
    store: StoreDep,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    await _existing(store, run_id)
    cursor = _cursor(last_event_id)
    return EventSourceResponse(_follow(store, run_id, cursor), ping=10)


async def _follow(store: Store, run_id: str, cursor: int | None) -> AsyncIterator[ServerSentEvent]:
    """Every event after the cursor, then new ones as they are recorded, until the run ended
    and nothing is left; a final `end` event carries the run's status."""
    while True:
        run = await store.runs.get(run_id)
        events = await store.runs.events(run_id, after_id=cursor)
        for event in events:
            cursor = event.id
            yield ServerSentEvent(
                id=str(event.id), event=event.type, data=_event_out(event).model_dump_json()
            )
        if run is None or (run.status is not RunStatus.RUNNING and not events):
            status = run.status.value if run else "deleted"
            yield ServerSentEvent(event="end", data=RunEnd(status=status).model_dump_json())
            return
        await asyncio.sleep(POLL_SECONDS)


async def _existing(store: Store, run_id: str) -> Run:
    run = await store.runs.get(run_id)
    if run is None:
        raise ApiError(404, f"Run {run_id!r} does not exist.", param="run_id", code="run_not_found")
    return run


def _cursor(last_event_id: str | None) -> int | None:
    if last_event_id is None:
        return None
    if not last_event_id.isdigit():
        raise ApiError(
            400,
            "Last-Event-ID must be the id of an event of this run.",
            param="Last-Event-ID",
            code="invalid_value",
        )
    return int(last_event_id)


def _event_out(event: RunEvent) -> EventOut:
    return EventOut.model_validate(event, from_attributes=True)


def _run_out(run: Run, events: list[RunEvent]) -> RunOut:
    duration = (run.finished_at - run.created_at).total_seconds() if run.finished_at else None
    return RunOut(
        **run.model_dump(),
        duration_seconds=duration,
        findings=_findings(events),
    )


def _findings(events: list[RunEvent]) -> list[Finding]:
    """The orchestrator's synthesised findings when it ran; otherwise every analyst's."""
    batches = [e.payload for e in events if e.type == "findings"]
    synthesised = [b for b in batches if b.get("analyst") is None]
    chosen = synthesised[-1:] if synthesised else batches
    return [Finding.model_validate(f) for batch in chosen for f in batch.get("findings", [])]
