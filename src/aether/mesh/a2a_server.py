"""The A2A endpoints of one agent service, built from the a2a-sdk's own pieces.

One base URL serves the agent card (public, cached), JSON-RPC at the root (streaming over SSE),
the HTTP+JSON binding, and the v0.3 compatibility layer of both. Tasks live in the SDK's
cluster-capable task store on Aether's database (SQLite or PostgreSQL), owned per service and
caller, with every event appended to a shared log: any replica of the service answers `GetTask`,
follows a task running on another one (`SubscribeToTask`) and cancels it (`CancelTask`). The
tables are Aether's migrations' (0006); nothing here creates one, so replicas starting together
cannot race.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from a2a.server.cluster import DatabaseTaskEventStream, VersionedDatabaseTaskStore
from a2a.server.context import ServerCallContext
from a2a.server.owner_resolver import OwnerResolver
from a2a.server.routes import (
    create_agent_card_routes,
    create_jsonrpc_routes,
    create_rest_routes,
)
from a2a.types.a2a_pb2 import AgentCard
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from aether.agents.contract import Agent, ServiceName
from aether.mesh.a2a_auth import JSONRPC_PATH, ServiceAuth, ServiceAuthMiddleware
from aether.mesh.a2a_executor import MeshAgentExecutor
from aether.mesh.a2a_ids import IdCheckingRequestHandler
from aether.mesh.cards import CARD_CACHE_CONTROL
from aether.mesh.trace_context import install_log_context

SSE_SHUTDOWN_GRACE_SECONDS = 2.0
"""Open streams get this long to finish when the service stops; the server waits longer."""


@asynccontextmanager
async def open_a2a_app(
    service: ServiceName, agent: Agent, card: AgentCard, engine: AsyncEngine, auth: ServiceAuth
) -> AsyncIterator[Starlette]:
    """The service's A2A app; on exit the running tasks are drained."""
    install_log_context()
    task_store = VersionedDatabaseTaskStore(
        engine, create_table=False, owner_resolver=_owned_by(service)
    )
    events = DatabaseTaskEventStream(engine, create_table=False)
    handler = IdCheckingRequestHandler(
        agent_executor=MeshAgentExecutor(service, agent, events),
        task_store=task_store,
        agent_card=card,
        event_stream=events,
    )
    try:
        yield Starlette(
            routes=[
                *create_agent_card_routes(card, cache_control=CARD_CACHE_CONTROL),
                *create_jsonrpc_routes(
                    handler,
                    rpc_url=JSONRPC_PATH,
                    enable_v0_3_compat=True,
                    shutdown_grace_period=SSE_SHUTDOWN_GRACE_SECONDS,
                ),
                *create_rest_routes(
                    handler,
                    enable_v0_3_compat=True,
                    shutdown_grace_period=SSE_SHUTDOWN_GRACE_SECONDS,
                ),
            ],
            middleware=[Middleware(ServiceAuthMiddleware, auth=auth)],
        )
    finally:
        await handler.aclose()


def _owned_by(service: ServiceName) -> OwnerResolver:
    """Tasks belong to the service and the caller: one table serves every service, and one
    caller cannot read another's tasks."""

    def owner(context: ServerCallContext) -> str:
        return f"{service.value}:{context.user.user_name}"

    return owner


class PendingApp:
    """A mount point whose app exists only once the lifespan has opened its resources (the
    database, the agents); until then, and after shutdown, it answers 503."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is not None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            body = {"error": {"code": 503, "status": "UNAVAILABLE", "message": "Starting up."}}
            response = JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
            await response(scope, receive, send)
