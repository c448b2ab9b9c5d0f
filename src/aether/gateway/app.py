"""The gateway application: the public API in front of the agent mesh."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from fastapi import FastAPI

from aether import __version__
from aether.agents.planning import Clock, utc_now
from aether.agents.proposals.lifecycle import open_proposal_service
from aether.config import Role, Settings
from aether.gateway import (
    api_artifacts,
    api_chat,
    api_conversations,
    api_feedback,
    api_health,
    api_models,
    api_proposals,
    api_runs,
)
from aether.gateway.api_health import HealthFacts
from aether.gateway.approvals import ApprovalDesk
from aether.gateway.auth import ApiKeyAuth
from aether.gateway.body_limit import BodyLimitMiddleware
from aether.gateway.cancellation import CancelWatcher
from aether.gateway.chat_service import ChatService
from aether.gateway.draining import Drain
from aether.gateway.errors import install_error_handlers
from aether.gateway.run_reaper import RunLeases
from aether.mesh.gateway_a2a import GatewayA2A
from aether.mesh.runtime import open_runtime
from aether.observability.metrics import install_metrics
from aether.observability.tracing import configure_tracing, flush_tracing

log = logging.getLogger(__name__)


def create_app(settings: Settings, clock: Clock = utc_now) -> FastAPI:
    """The app for these settings; resources are opened by the lifespan, not at import."""
    a2a = GatewayA2A(settings)
    drain = Drain(settings.shutdown_grace_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(configure_tracing, settings)
        async with AsyncExitStack() as stack:
            stack.push_async_callback(asyncio.to_thread, flush_tracing)  # runs last
            runtime = await stack.enter_async_context(open_runtime(settings, clock, Role.GATEWAY))
            await stack.enter_async_context(a2a.serving(runtime))
            app.state.store = runtime.store
            proposals = await stack.enter_async_context(
                open_proposal_service(settings, runtime.store)
            )
            app.state.proposals = proposals
            chat = ChatService(
                runtime.store,
                runtime.mesh.router,
                runtime.mesh.directory,
                approvals=ApprovalDesk(proposals),
            )
            app.state.chat = chat
            stack.push_async_callback(chat.aclose)
            drain.start(chat.runs)
            stack.push_async_callback(drain.stop)
            cancels = CancelWatcher(runtime.store, chat.runs)
            cancels.start()
            stack.push_async_callback(cancels.stop)
            leases = RunLeases.from_settings(runtime.store, chat.runs, settings)
            leases.start()
            stack.push_async_callback(leases.stop)
            probes = await stack.enter_async_context(httpx.AsyncClient())
            app.state.health = HealthFacts(
                mode=settings.deployment_mode.value,
                sandbox=runtime.sandbox_name,
                llm=runtime.llm_description,
                auth=settings.auth_enabled,
                downstream_urls=runtime.downstream_urls,
                http=probes,
            )
            if not settings.auth_enabled:
                log.warning(
                    "API_KEYS is not set: authentication is off (allowed on the loopback bind %s)",
                    settings.host,
                )
            yield

    app = FastAPI(
        title="Aether",
        version=__version__,
        summary="OpenAI-compatible API over an agent mesh for household energy analysis.",
        lifespan=lifespan,
    )
    app.state.auth = ApiKeyAuth(settings.api_keys)
    app.state.drain = drain
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    install_metrics(app, Role.GATEWAY.value)
    install_error_handlers(app)
    for module in (api_health, api_models, api_chat, api_conversations, api_runs, api_feedback):
        app.include_router(module.router)
    app.include_router(api_artifacts.router)
    app.include_router(api_proposals.router)
    a2a.install(app)
    return app
