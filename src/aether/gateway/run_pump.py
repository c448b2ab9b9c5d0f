"""Runs a chat request's events in a task of its own, so the response can wait for them.

A streamed answer is held back until the agent has taken the request: if it cannot be reached,
the client gets a 503 instead of a 200 stream that ends in an error frame. That needs the first
events before the response is chosen, and the rest inside the response; one task runs the whole
run, so its context variables, spans and cancel switch (`RunControl.interruptible`, which
cancels the task it runs in) stay in one task, as they must.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from aether.agents.contract import AgentEvent

_RUNNING: set[asyncio.Task[None]] = set()
"""Pumps still running, also after their response let go of them (finishing a cancelled run)."""


@dataclass(frozen=True)
class _End:
    failure: Exception | None


class EventPump:
    """Pulls `events` in a background task into a queue, for one consumer."""

    def __init__(self, events: AsyncGenerator[AgentEvent, None]) -> None:
        self._queue: asyncio.Queue[AgentEvent | _End] = asyncio.Queue()
        self._failure: Exception | None = None
        self._task = asyncio.create_task(self._pump(events), name="aether-chat-run")
        _RUNNING.add(self._task)
        self._task.add_done_callback(_RUNNING.discard)

    @property
    def ended(self) -> bool:
        return self._task.done()

    @property
    def failure(self) -> Exception | None:
        """What the run raised, once it has ended (None: it ended normally)."""
        if not self._task.done() or self._task.cancelled():
            return None
        return self._failure

    async def wait(self, signal: asyncio.Event, seconds: float) -> None:
        """Until `signal` is set, the run has ended, or `seconds` have passed."""
        signalled = asyncio.ensure_future(signal.wait())
        try:
            await asyncio.wait(
                {signalled, self._task}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            signalled.cancel()

    async def events(self) -> AsyncIterator[AgentEvent]:
        """The events in order; raises what the run raised, after its last event."""
        while True:
            item = await self._queue.get()
            if isinstance(item, _End):
                if item.failure is not None:
                    raise item.failure
                return
            yield item

    def cancel(self) -> None:
        """Stop the run (the client went away); it still stores its final state."""
        self._task.cancel()

    async def _pump(self, events: AsyncGenerator[AgentEvent, None]) -> None:
        try:
            async with aclosing(events):
                async for event in events:
                    self._queue.put_nowait(event)
        except Exception as exc:  # handed to the consumer, which turns it into a response
            self._failure = exc
            self._queue.put_nowait(_End(exc))
            return
        self._queue.put_nowait(_End(None))
