"""Runs an app under uvicorn until a stop signal, and lets the gateway end its answers cleanly.

uvicorn's own graceful shutdown waits for open connections but tells the app nothing until they
are closed. The gateway has to know at once: its streams would otherwise run until the timeout
cut them, with no error frame (`aether.gateway.draining`). Agent services stop as uvicorn does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import FrameType
from typing import Final

import uvicorn
from fastapi import FastAPI

from aether.config import Settings
from aether.gateway.draining import Drain

SERVICE_STOP_SECONDS: Final = 10
"""uvicorn's graceful-shutdown timeout for roles without a drain (the agent services)."""


def serve(app: FastAPI, settings: Settings) -> None:
    drain: Drain | None = getattr(app.state, "drain", None)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=(
            math.ceil(drain.server_grace_seconds) if drain is not None else SERVICE_STOP_SECONDS
        ),
    )
    StopAwareServer(config, on_stop=drain.begin if drain is not None else None).run()


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
