"""A pool of warm sandboxes: started ahead of their jobs with the analysis libraries imported, each
handed out once and never returned, replaced in the background.

Sharing a sandbox between jobs would let one job leave something behind for the next; starting
one per job costs seconds of imports. The pool spends those seconds before a job arrives. It
refills one sandbox at a time, and while a job runs only when it is empty, so that warming up
does not compete with the job for the CPU. Size 0 turns it off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, Final

from aether.sandbox.container import Sandbox

log = logging.getLogger(__name__)

RETRY_SECONDS: Final = (1.0, 5.0, 30.0)
"""Back-off after failed launches, so a broken host does not get a launch loop."""


class WarmPool:
    def __init__(
        self,
        size: int,
        launch: Callable[[], Awaitable[Sandbox]],
        destroy: Callable[[Sandbox], Coroutine[Any, Any, None]],
    ) -> None:
        if size < 0:
            raise ValueError("size must be zero or more")
        self.size = size
        self._launch = launch
        self._destroy = destroy
        self._idle: deque[Sandbox] = deque()
        self._wake = asyncio.Event()
        self._busy = 0
        self._refill: asyncio.Task[None] | None = None
        self._closed = False
        self._discarding: set[asyncio.Task[None]] = set()

    @property
    def idle(self) -> int:
        return len(self._idle)

    def start(self) -> None:
        if self.size and self._refill is None:
            self._refill = asyncio.create_task(self._keep_full(), name="sandbox-warm-pool")

    def take(self) -> Sandbox | None:
        """The oldest warm sandbox still alive (it is the most likely to have finished its
        imports), or None when the pool is empty."""
        while self._idle:
            sandbox = self._idle.popleft()
            self._wake.set()
            if sandbox.alive:
                return sandbox
            log.warning("warm sandbox %s exited while idle", sandbox.container_id)
            self._discard(sandbox)
        return None

    @contextlib.contextmanager
    def job_running(self) -> Iterator[None]:
        """Marks a job as running: refills wait for it unless the pool is empty."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
            self._wake.set()

    async def wait_ready(self, timeout_seconds: float) -> bool:
        """Whether the pool is full of sandboxes that finished their imports within the time."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if len(self._idle) >= self.size and all(s.ready for s in self._idle):
                return True
            await asyncio.sleep(0.05)
        return False

    async def aclose(self) -> None:
        """Stop refilling and destroy every idle sandbox."""
        self._closed = True
        if self._refill is not None:
            self._refill.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refill
        idle, self._idle = list(self._idle), deque()
        await asyncio.gather(*(self._destroy(sandbox) for sandbox in idle), *self._discarding)

    async def _keep_full(self) -> None:
        failures = 0
        while not self._closed:
            if len(self._idle) >= self.size or (self._busy and self._idle):
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                sandbox = await self._launch_shielded()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failed launch must not end the refills
                delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("could not start a warm sandbox (retrying in %g s): %s", delay, exc)
                await asyncio.sleep(delay)
                continue
            failures = 0
            if self._closed:
                await self._destroy(sandbox)
                return
            self._idle.append(sandbox)

    async def _launch_shielded(self) -> Sandbox:
        """A launch cancelled half-way may already have a container: it is finished and
        destroyed rather than lost."""
        launching = asyncio.ensure_future(self._launch())
        try:
            return await asyncio.shield(launching)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self._destroy(await launching)
            raise

    def _discard(self, sandbox: Sandbox) -> None:
        task = asyncio.create_task(self._destroy(sandbox))
        self._discarding.add(task)
        task.add_done_callback(self._discarding.discard)
