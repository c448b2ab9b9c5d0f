"""A stopping gateway replica ends its answers in flight cleanly.

On SIGTERM (a rolling restart, `docker stop`, a scale-down) uvicorn stops accepting connections
and waits for the open ones. The runs in flight get `SHUTDOWN_GRACE_SECONDS` to finish; those
still running then are stopped: the client gets a 503 with `gateway_stopping` (an error frame on a
stream), the run ends `failed` with its partial answer and the reason, and its idempotency key is
released, so a retry with the same key runs again on a replica that is not stopping. Without this
sse-starlette would cut the streams the moment the server stops, with no error frame, and their
runs would stay `running` until another replica's reaper ended them a lease later.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Final

from aether.gateway.cancellation import RunRegistry

log = logging.getLogger(__name__)

STOP_MARGIN_SECONDS: Final = 5.0
"""After the grace: time for the stopped runs to store their final states and send their error
frames before the server closes what is left."""


class Drain:
    """Waits for the stop signal, then gives the runs in flight their grace and stops the rest."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def stream_grace_seconds(self) -> float:
        """How long a response stream may go on after the stop signal before the server cuts it."""
        return self.grace_seconds + STOP_MARGIN_SECONDS

    @property
    def server_grace_seconds(self) -> float:
        """uvicorn's graceful-shutdown timeout: every stream has ended by then."""
        return self.grace_seconds + 2 * STOP_MARGIN_SECONDS

    def start(self, runs: RunRegistry) -> None:
        """Called in the app's lifespan, on its event loop."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._drain(runs), name="aether-drain")

    def begin(self) -> None:
        """The stop signal arrived. Safe from any thread and from a signal handler."""
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _drain(self, runs: RunRegistry) -> None:
        assert self._stopping is not None
        await self._stopping.wait()
        controls = runs.controls()
        if not controls:
            return
        log.info(
            "stopping: %d answers in flight get %.0f s to finish", len(controls), self.grace_seconds
        )
        finishing = [asyncio.create_task(control.finished.wait()) for control in controls]
        try:
            await asyncio.wait(finishing, timeout=self.grace_seconds)
        finally:
            for task in finishing:
                task.cancel()
        left = runs.controls()
        for control in left:
            control.request_stop()
        if left:
            log.warning(
                "stopping: %d answers still running after %.0f s were ended; their clients "
                "were told to retry",
                len(left),
                self.grace_seconds,
            )
