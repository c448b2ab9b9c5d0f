"""Cancelling a run in flight, from this gateway replica or from any other.

Each running `ChatService.execute` registers a `RunControl`. A cancel is recorded in the database
first, as a `cancel_requested` event of the run (so the log shows it, and so every replica can
see it); the replica that runs the run then stops it: at once when the request reached it, or
within `CANCEL_POLL_SECONDS` through the `CancelWatcher`, which looks for cancel events of its
own in-flight runs. Stopping cancels the task waiting on the agents, which closes the agent
stream; over A2A that sends CancelTask to the next service, which cancels its agent, which does
the same downstream: the cancel reaches every hop and the sandbox job.

Only the waiting on agents is interrupted, never the handing of an event to the client or a
database write: a cancel that arrives in between takes effect at the next wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Final

from aether.store import DatabaseUnavailableError, Store

log = logging.getLogger(__name__)

CANCEL_EVENT: Final = "cancel_requested"
CANCEL_POLL_SECONDS: Final = 0.5
"""How soon a run learns of a cancel that reached another replica."""


class RunControl:
    """The cancel switch of one run in flight, and the answer it has written so far (which the
    run's lease saves with each heartbeat, `aether.gateway.run_reaper`)."""

    def __init__(self, run_id: str, text_parts: list[str] | None = None) -> None:
        self.run_id = run_id
        self.text_parts = text_parts if text_parts is not None else []
        """Appended to by the run as it streams; never rewritten."""
        self.saved_parts = 0
        """How many of `text_parts` the database holds."""
        self.requested = False
        self.reason = ""
        self.stopping = False
        """The replica is stopping: the run ends `failed`, worth retrying on another replica."""
        self.finished = asyncio.Event()
        self._waiting: asyncio.Task[object] | None = None
        self._interrupted: asyncio.Task[object] | None = None

    def request_cancel(self, reason: str) -> None:
        if self.requested:
            return
        self.requested, self.reason = True, reason
        if self._waiting is not None:
            self._interrupt(self._waiting)

    def request_stop(self) -> None:
        """Ends the run because this replica stops (`aether.gateway.draining`)."""
        if not self.requested:
            self.stopping = True
        self.request_cancel("stopped with the gateway replica")

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """A cancel requested before or during the block cancels the current task inside it."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("interruptible() needs a running task")
        self._waiting = task
        try:
            if self.requested:
                self._interrupt(task)
            yield
        finally:
            self._waiting = None

    def absorb(self) -> bool:
        """Called on CancelledError: True if it was this control's cancel alone (it is then
        consumed, and the run ends as cancelled); False if someone else cancels the task too
        (the client went away, the server stops), which must propagate."""
        task, self._interrupted = self._interrupted, None
        if task is None:
            return False
        return task.uncancel() == 0

    def _interrupt(self, task: asyncio.Task[object]) -> None:
        if self._interrupted is None:
            self._interrupted = task
            task.cancel(f"run {self.run_id} cancelled: {self.reason}")


class RunRegistry:
    """The runs this replica is executing."""

    def __init__(self) -> None:
        self._runs: dict[str, RunControl] = {}

    def __len__(self) -> int:
        return len(self._runs)

    def get(self, run_id: str) -> RunControl | None:
        return self._runs.get(run_id)

    def ids(self) -> list[str]:
        return list(self._runs)

    def controls(self) -> list[RunControl]:
        return list(self._runs.values())

    @contextmanager
    def track(self, run_id: str, text_parts: list[str] | None = None) -> Iterator[RunControl]:
        """Registers the run while the block runs; `text_parts` is where the run collects its
        answer, so the partial answer can be saved."""
        control = RunControl(run_id, text_parts)
        self._runs[run_id] = control
        try:
            yield control
        finally:
            self._runs.pop(run_id, None)
            control.finished.set()


class CancelWatcher:
    """Polls the database for cancels of this replica's in-flight runs that reached another
    replica; one indexed read per poll, and none while nothing runs."""

    def __init__(self, store: Store, registry: RunRegistry) -> None:
        self._store = store
        self._registry = registry
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="aether-cancel-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            if not len(self._registry):
                continue
            try:
                requested = await self._store.runs.with_event(self._registry.ids(), CANCEL_EVENT)
            except DatabaseUnavailableError as exc:
                log.warning("could not look for cancelled runs: %s", exc)
                continue
            except Exception:  # any other failure must not end the watcher either
                log.exception("could not look for cancelled runs")
                continue
            for run_id in requested:
                control = self._registry.get(run_id)
                if control is not None:
                    control.request_cancel("cancelled through another gateway replica")
