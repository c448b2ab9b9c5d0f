"""`/health` (liveness) and `/ready` (readiness) of an agent service; public, for probes.

Readiness checks what the service needs to do its work: its database (the task store), and the
next agent downstream (its `/health`; with several replicas, at least one must answer), and
reports the sandbox that runs the analysis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from aether import __version__
from aether.config import Role
from aether.store import Store

log = logging.getLogger(__name__)
router = APIRouter()

PROBE_TIMEOUT_SECONDS: Final = 2.0


@dataclass(frozen=True)
class ServiceFacts:
    """What the probes report and use; fixed when the service starts."""

    role: Role
    mode: str
    sandbox: str
    llm: str
    auth: bool
    store: Store
    downstream_urls: tuple[str, ...]
    """The replicas of the next agent downstream; empty when there is none."""
    http: httpx.AsyncClient


class ServiceHealth(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    role: str
    mode: str
    sandbox: str
    llm: str
    auth: Literal["bearer", "off"]


class ServiceReadiness(BaseModel):
    status: Literal["ready", "not_ready"]
    role: str
    sandbox: str
    checks: dict[str, str]


@router.get("/health")
async def health(request: Request) -> ServiceHealth:
    facts: ServiceFacts = request.app.state.service
    return ServiceHealth(
        version=__version__,
        role=facts.role.value,
        mode=facts.mode,
        sandbox=facts.sandbox,
        llm=facts.llm,
        auth="bearer" if facts.auth else "off",
    )


@router.get("/ready", response_model=ServiceReadiness)
async def ready(request: Request) -> JSONResponse:
    facts: ServiceFacts = request.app.state.service
    checks = {"database": await check_database(facts.store)}
    if facts.downstream_urls:
        checks["downstream"] = await check_downstream(facts.http, facts.downstream_urls)
    is_ready = all(value == "ok" for value in checks.values())
    body = ServiceReadiness(
        status="ready" if is_ready else "not_ready",
        role=facts.role.value,
        sandbox=facts.sandbox,
        checks=checks,
    )
    return JSONResponse(body.model_dump(), status_code=200 if is_ready else 503)


async def check_database(store: Store) -> str:
    """`ok`, or why the database cannot be used."""
    try:
        await store.ping()
    except Exception as exc:  # any failure means "not ready"; the reason goes to the probe
        log.warning("readiness: database check failed: %s", exc)
        return f"error: {type(exc).__name__}"
    return "ok"


async def check_downstream(http: httpx.AsyncClient, base_urls: Sequence[str]) -> str:
    """`ok` when at least one replica of the next agent downstream answers (calls fail over to
    it), or why none can be reached."""
    if isinstance(base_urls, str):  # a str is a Sequence[str] too: one URL, not its letters
        base_urls = [base_urls]
    results = await asyncio.gather(*(_check_replica(http, url) for url in base_urls))
    if "ok" in results:
        return "ok"
    if len(results) == 1:
        return results[0]
    reasons = "; ".join(result.removeprefix("error: ") for result in results)
    return f"error: no replica answers: {reasons}"


async def _check_replica(http: httpx.AsyncClient, base_url: str) -> str:
    try:
        response = await http.get(f"{base_url}/health", timeout=PROBE_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        log.warning("readiness: %s/health unreachable: %s", base_url, exc)
        return f"error: {base_url} unreachable ({type(exc).__name__})"
    if response.status_code != 200:
        return f"error: {base_url}/health answered HTTP {response.status_code}"
    return "ok"
