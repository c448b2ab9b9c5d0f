"""The application of one agent service (architect, ds-orchestrator or ds-analysts).

It hosts its role's agent and serves it over A2A at the service root; `/health`, `/ready` and
`/metrics` sit beside it. Everything is opened by the lifespan, not at import, so the app can be
built, probed and thrown away cheaply (tests, `aether serve`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from fastapi import FastAPI

from aether import __version__
from aether.agents.contract import ServiceName
from aether.agents.planning import Clock, utc_now
from aether.config import Role, Settings
from aether.mesh import service_health
from aether.mesh.a2a_auth import ServiceAuth
from aether.mesh.a2a_server import PendingApp, open_a2a_app
from aether.mesh.cards import service_card
from aether.mesh.runtime import open_runtime
from aether.mesh.service_health import PROBE_TIMEOUT_SECONDS, ServiceFacts
from aether.observability.metrics import install_metrics
from aether.observability.tracing import configure_tracing, flush_tracing


def create_service_app(settings: Settings, clock: Clock = utc_now) -> FastAPI:
    """The app of the agent service `settings.aether_service` (not the gateway)."""
    role = settings.aether_service
    if role is Role.GATEWAY:
        raise ValueError("the gateway is built by aether.gateway.app.create_app")
    service = ServiceName(role.value)
    a2a = PendingApp()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Each service process traces on its own, under the caller's span (see a2a_executor).
        await asyncio.to_thread(configure_tracing, settings)
        async with AsyncExitStack() as stack:
            stack.push_async_callback(asyncio.to_thread, flush_tracing)  # runs last
            runtime = await stack.enter_async_context(open_runtime(settings, clock, role))
            auth = ServiceAuth.from_settings(settings)
            a2a.app = await stack.enter_async_context(
                open_a2a_app(
                    service,
                    runtime.mesh.agents[service],
                    service_card(settings, service, on_gateway=False),
                    runtime.store.engine,
                    auth,
                )
            )
            stack.callback(setattr, a2a, "app", None)
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=PROBE_TIMEOUT_SECONDS))
            app.state.service = ServiceFacts(
                role=role,
                mode=settings.deployment_mode.value,
                sandbox=runtime.sandbox_name,
                llm=runtime.llm_description,
                auth=auth.enabled,
                store=runtime.store,
                downstream_urls=runtime.downstream_urls,
                http=http,
            )
            yield

    app = FastAPI(
        title=f"Aether {role.value}",
        version=__version__,
        summary=f"The {role.value} agent service: A2A at /, probes at /health and /ready.",
        lifespan=lifespan,
    )
    install_metrics(app, role.value)
    app.include_router(service_health.router)
    app.mount("/", a2a)
    return app
