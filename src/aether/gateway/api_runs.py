"""`/api/v1/runs`: the runs, what happened in each, its findings, its event log (also live, over
SSE), and cancelling one.

Events live in the database, so any gateway replica can serve them, and a client that reconnects
with `Last-Event-ID` resumes exactly after the last event it saw. The live stream sends a comment
line every `PING_SECONDS` while nothing happens, so proxies keep a quiet analysis's stream open.
A cancel reaches the run on whichever replica runs it (`aether.gateway.cancellation`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import suppress
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel
from sse_starlette import EventSourceResponse, ServerSentEvent

from aether.analysis.findings import Finding
from aether.gateway.auth import require_api_key
from aether.gateway.cancellation import CANCEL_EVENT, RunRegistry
from aether.gateway.dependencies import StoreDep
from aether.gateway.errors import (
    DATABASE_UNAVAILABLE,
    DATABASE_UNAVAILABLE_MESSAGE,
    RETRY_AFTER_SECONDS,
    UNAVAILABLE_STATUS,
    ApiError,
)
from aether.gateway.streaming import error_frame
from aether.store import DatabaseUnavailableError, Run, RunEvent, RunFilter, RunStatus, Store

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/runs", dependencies=[Depends(require_api_key)])

POLL_SECONDS = 0.25
"""How often a live event stream looks for new events; the database is the only channel, so
every replica sees every run."""
PING_SECONDS = 10
"""Keep-alive comment interval of a live event stream."""
CANCEL_WAIT_SECONDS = 10.0
"""How long a cancel request waits for the run to stop before answering 202 (still stopping)."""
CANCEL_REASON = "cancelled through the runs API"


class RunSummary(BaseModel):
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


class RunOut(RunSummary):
    findings: list[Finding]


class RunPage(BaseModel):
    object: Literal["list"] = "list"
    data: list[RunSummary]
    total: int
    limit: int
    offset: int


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


def _runs_in_flight(request: Request) -> RunRegistry:
    registry: RunRegistry = request.app.state.chat.runs
    return registry


@router.get("")
async def list_runs(
    store: StoreDep,
    status: RunStatus | None = None,
    conversation_id: Annotated[str | None, Query(max_length=64)] = None,
    agent: Annotated[str | None, Query(max_length=64, description="the agent routed to")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> RunPage:
    """Runs, newest first, optionally only those with a status, of a conversation or routed to
    an agent."""
    where = RunFilter(status=status, conversation_id=conversation_id, agent=agent)
    runs, total = await store.runs.list(where, limit=limit, offset=offset)
    return RunPage(data=[_summary(run) for run in runs], total=total, limit=limit, offset=offset)


@router.post("/{run_id}/cancel", responses={202: {"description": "The run is still stopping."}})
async def cancel_run(
    run_id: str,
    store: StoreDep,
    response: Response,
    registry: Annotated[RunRegistry, Depends(_runs_in_flight)],
) -> RunOut:
    """Stops a running run in every service. 200 with the run once it stopped (`cancelled`),
    202 if it is still stopping; 409 if it had already completed or failed."""
    run = await _existing(store, run_id)
    if run.status is RunStatus.RUNNING:
        await store.runs.append_event(run_id, CANCEL_EVENT, {"reason": CANCEL_REASON})
        control = registry.get(run_id)
        if control is not None:
            control.request_cancel(CANCEL_REASON)
        run = await _stopped(store, run_id, control.finished if control else None)
    elif run.status is not RunStatus.CANCELLED:
        raise ApiError(
            409,
            f"Run {run_id!r} already ended ({run.status.value}); only a running run can be "
            "cancelled.",
            param="run_id",
            code="run_not_running",
        )
    if run.status is RunStatus.RUNNING:
        response.status_code = 202
    return _run_out(run, await store.runs.events(run_id))


async def _stopped(store: Store, run_id: str, finished: asyncio.Event | None) -> Run:
    """The run once it left `running`, or as it is after `CANCEL_WAIT_SECONDS`. A run of this
    replica signals its end; another replica's is polled for."""
    if finished is not None:
        with suppress(TimeoutError):
            await asyncio.wait_for(finished.wait(), CANCEL_WAIT_SECONDS)
        return await _existing(store, run_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CANCEL_WAIT_SECONDS
    while True:
        run = await _existing(store, run_id)
        if run.status is not RunStatus.RUNNING or loop.time() >= deadline:
            return run
        await asyncio.sleep(POLL_SECONDS)


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
    return EventSourceResponse(_follow(store, run_id, cursor), ping=PING_SECONDS)


async def _follow(store: Store, run_id: str, cursor: int | None) -> AsyncIterator[ServerSentEvent]:
    """Every event after the cursor, then new ones as they are recorded, until the run ended
    and nothing is left; a final `end` event carries the run's status.

    If the database goes away meanwhile, an `error` event says so and the stream ends, with a
    `retry` hint: the client reconnects with `Last-Event-ID` and misses nothing."""
    while True:
        try:
            run = await store.runs.get(run_id)
            events = await store.runs.events(run_id, after_id=cursor)
        except DatabaseUnavailableError as exc:
            log.warning("the event stream of run %s ended: %s", run_id, exc)
            yield ServerSentEvent(
                event="error",
                data=error_frame(
                    UNAVAILABLE_STATUS, DATABASE_UNAVAILABLE_MESSAGE, DATABASE_UNAVAILABLE
                ),
                retry=RETRY_AFTER_SECONDS * 1000,
            )
            return
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


def _summary(run: Run) -> RunSummary:
    return RunSummary(**run.model_dump(), duration_seconds=_duration(run))


def _run_out(run: Run, events: list[RunEvent]) -> RunOut:
    return RunOut(**run.model_dump(), duration_seconds=_duration(run), findings=_findings(events))


def _duration(run: Run) -> float | None:
    return (run.finished_at - run.created_at).total_seconds() if run.finished_at else None


def _findings(events: list[RunEvent]) -> list[Finding]:
    """The orchestrator's synthesised findings when it ran; otherwise every analyst's."""
    batches = [e.payload for e in events if e.type == "findings"]
    synthesised = [b for b in batches if b.get("analyst") is None]
    chosen = synthesised[-1:] if synthesised else batches
    return [Finding.model_validate(f) for batch in chosen for f in batch.get("findings", [])]
