"""The gateway's A2A side: its own agent card, and in the monolith every agent's A2A endpoints and
card under `/a2a/{service}/`, so other A2A agents can discover and call Aether's agents whichever
topology runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from a2a.server.routes import add_a2a_routes_to_fastapi, create_agent_card_routes
from fastapi import FastAPI

from aether.config import Role, Settings
from aether.mesh.a2a_auth import ServiceAuth
from aether.mesh.a2a_server import PendingApp, open_a2a_app
from aether.mesh.cards import CARD_CACHE_CONTROL, MOUNT_PREFIX, gateway_card, service_card
from aether.mesh.runtime import Runtime
from aether.mesh.topology import published_services


class GatewayA2A:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._mounts = {
            service: PendingApp()
            for service in published_services(Role.GATEWAY, settings.deployment_mode)
        }

    def install(self, app: FastAPI) -> None:
        """Adds the card route and the mount points (empty until `serving`)."""
        card_routes = create_agent_card_routes(
            gateway_card(self._settings), cache_control=CARD_CACHE_CONTROL
        )
        add_a2a_routes_to_fastapi(app, agent_card_routes=card_routes)
        for service, mount in self._mounts.items():
            app.mount(f"{MOUNT_PREFIX}/{service.value}", mount)

    @asynccontextmanager
    async def serving(self, runtime: Runtime) -> AsyncIterator[None]:
        """Serves the hosted agents on their mount points while the block runs."""
        auth = ServiceAuth.from_settings(self._settings)
        async with AsyncExitStack() as stack:
            for service, mount in self._mounts.items():
                mount.app = await stack.enter_async_context(
                    open_a2a_app(
                        service,
                        runtime.mesh.agents[service],
                        service_card(self._settings, service, on_gateway=True),
                        runtime.store.engine,
                        auth,
                    )
                )
                stack.callback(setattr, mount, "app", None)
            yield
