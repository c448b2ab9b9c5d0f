"""Liveness (`/health`) and readiness (`/ready`), public so orchestrators can probe them.

Readiness checks the database and (in distributed mode) the architect at once, each within a
bound, so it turns `not_ready` within seconds of either going away and back without a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from aether import __version__
from aether.mesh.service_health import PROBE_TIMEOUT_SECONDS, check_database, check_downstream
from aether.store import Store

router = APIRouter()


@dataclass(frozen=True)
class HealthFacts:
    """What the probes report and use; fixed at start-up."""

    mode: str
    sandbox: str
    llm: str
    auth: bool
    downstream_urls: tuple[str, ...]
    """The architect's replicas in distributed mode; empty when the agents run in process."""
    http: httpx.AsyncClient


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    mode: str
    sandbox: str
    llm: str
    auth: Literal["api_key", "off"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]


@router.get("/health")
@router.get("/api/v1/health", include_in_schema=False)
async def health(request: Request) -> Health:
    facts: HealthFacts = request.app.state.health
    return Health(
        version=__version__,
        mode=facts.mode,
        sandbox=facts.sandbox,
        llm=facts.llm,
        auth="api_key" if facts.auth else "off",
    )


@router.get("/ready", response_model=Readiness)
@router.get("/api/v1/ready", include_in_schema=False, response_model=Readiness)
async def ready(request: Request) -> JSONResponse:
    store: Store = request.app.state.store
    facts: HealthFacts = request.app.state.health
    probes = {"database": _bounded(check_database(store))}
    if facts.downstream_urls:
        probes["architect"] = _bounded(check_downstream(facts.http, facts.downstream_urls))
    results = await asyncio.gather(*probes.values())
    checks = dict(zip(probes, results, strict=True))
    is_ready = all(value == "ok" for value in checks.values())
    body = Readiness(status="ready" if is_ready else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if is_ready else 503)


async def _bounded(check: Coroutine[Any, Any, str]) -> str:
    """A check's answer within the probe timeout: a database that does not answer (a dropped
    network, not a refused connection) makes the gateway not ready, instead of hanging the probe."""
    try:
        return await asyncio.wait_for(check, PROBE_TIMEOUT_SECONDS + 1)
    except TimeoutError:
        return f"error: no answer within {PROBE_TIMEOUT_SECONDS + 1:g} s"
