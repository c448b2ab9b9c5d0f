"""Runs an app under uvicorn until a stop signal, letting the work in flight end cleanly.

On SIGTERM uvicorn stops accepting connections and waits for the open ones, but sse-starlette
(which streams the chat answers and, inside the a2a-sdk, the agents' A2A streams) cuts every
stream at once. The gateway is told the moment the signal arrives and ends its answers itself
(`aether.gateway.draining`). An agent service instead lets its streams run: they end when their
answers do, or when uvicorn's timeout (`SHUTDOWN_GRACE_SECONDS`) cancels what is left.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI
from sse_starlette.sse import AppStatus

from aether.config import Settings
from aether.gateway.draining import Drain


def serve(app: FastAPI, settings: Settings) -> None:
    drain: Drain | None = getattr(app.state, "drain", None)
    on_stop: Callable[[], None] | None
    if drain is None:
        # Process-wide, and this process serves one agent service: its A2A streams only.
        AppStatus.disable_automatic_graceful_drain()
        grace, on_stop = settings.shutdown_grace_seconds, None
    else:
        grace, on_stop = drain.server_grace_seconds, drain.begin
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=math.ceil(grace),
    )
    StopAwareServer(config, on_stop=on_stop).run()


class StopAwareServer(uvicorn.Server):
    """uvicorn, telling the app the moment a stop signal arrives: before uvicorn waits for the
    open connections, which is when the gateway must start ending its answers in flight."""

    def __init__(self, config: uvicorn.Config, on_stop: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_stop = on_stop

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._on_stop is not None:
            self._on_stop()
        super().handle_exit(sig, frame)
