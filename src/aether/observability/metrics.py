"""Prometheus metrics of every service, and the `/metrics` route that exposes them.

Every series carries `service` (the process's role), so one scrape config covers the gateway and
the agent services. Labels are bounded sets (route templates, agent names, outcomes), never ids.
The registry is the process's: services run in threads of one test process share it (their HTTP
series stay apart by `service`; the others carry the role of the last app built).
"""

from __future__ import annotations

import time
from typing import Final

from fastapi import APIRouter, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
UNMATCHED_ROUTE: Final = "unmatched"

HTTP_REQUESTS = Counter(
    "aether_http_requests",
    "HTTP requests served, by route template and status code.",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "aether_http_request_duration_seconds",
    "Time from request to the end of the response (a stream: its whole length), by route.",
    ["service", "method", "route"],
    buckets=_LATENCY_BUCKETS,
)
RUNS = Counter(
    "aether_runs", "Runs (chat requests) that ended, by final status.", ["service", "status"]
)
RUNS_IN_PROGRESS = Gauge(
    "aether_runs_in_progress", "Runs this gateway is executing now.", ["service"]
)
A2A_CALLS = Counter(
    "aether_a2a_calls",
    "A2A calls this service made to another, by target service and outcome.",
    ["service", "target", "outcome"],
)
A2A_CALL_LATENCY = Histogram(
    "aether_a2a_call_duration_seconds",
    "Length of an A2A call, from sending the message to the end of its stream.",
    ["service", "target"],
    buckets=_LATENCY_BUCKETS,
)
A2A_TASKS = Counter(
    "aether_a2a_tasks",
    "A2A tasks this service served, by agent and outcome.",
    ["service", "agent", "outcome"],
)
SANDBOX_JOBS = Counter(
    "aether_sandbox_jobs",
    "Analysis jobs run in the sandbox, by analyst and outcome.",
    ["service", "analyst", "runner", "outcome"],
)
SANDBOX_JOB_LATENCY = Histogram(
    "aether_sandbox_job_duration_seconds",
    "Wall-clock length of an analysis job, by analyst.",
    ["service", "analyst"],
    buckets=_LATENCY_BUCKETS,
)
LLM_CALLS = Counter(
    "aether_llm_calls", "LLM calls, by model and outcome.", ["service", "model", "outcome"]
)
LLM_TOKENS = Counter(
    "aether_llm_tokens",
    "Tokens spent on LLM calls, by model and kind (prompt or completion).",
    ["service", "model", "kind"],
)


class _Service:
    """This process's role, the `service` label of every series it records."""

    name: str = "aether"


service = _Service()


def set_service(name: str) -> None:
    service.name = name


def record_llm_usage(model: str, prompt_tokens: int, completion_tokens: int) -> None:
    LLM_TOKENS.labels(service.name, model, "prompt").inc(prompt_tokens)
    LLM_TOKENS.labels(service.name, model, "completion").inc(completion_tokens)


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """The process's metrics in Prometheus' text format (no credentials: scrape it over the
    internal network, as `/health`)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Counts every HTTP request and times it, labelled by the route template that served it
    (so `/api/v1/runs/{run_id}` is one series, whatever the id)."""

    def __init__(self, app: ASGIApp, service_name: str) -> None:
        self.app = app
        self.service_name = service_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_see(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            route = route_label(scope)
            method = scope["method"]
            HTTP_REQUESTS.labels(self.service_name, method, route, str(status)).inc()
            HTTP_LATENCY.labels(self.service_name, method, route).observe(
                time.perf_counter() - started
            )


def route_label(scope: Scope) -> str:
    """The template of the innermost route that matched, under the prefix of its mount."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED_ROUTE
    prefix = str(scope.get("root_path", "")).rstrip("/")
    return f"{prefix}{path}" or "/"


def install_metrics(app: FastAPI, service_name: str) -> None:
    """`/metrics` on `app`, and every request to it counted and timed."""
    set_service(service_name)
    app.add_middleware(MetricsMiddleware, service_name=service_name)
    app.include_router(router)
