"""A run's cancel switch: it interrupts only the wait on the agents, and never swallows a
cancellation that came from elsewhere (a client gone, a server stopping)."""

from __future__ import annotations

import asyncio

import pytest

from aether.gateway.cancellation import RunRegistry


async def test_a_cancel_interrupts_the_wait_and_is_absorbed() -> None:
    registry = RunRegistry()
    waiting = asyncio.Event()

    async def run() -> str:
        with registry.track("r1") as control:
            try:
                with control.interruptible():
                    waiting.set()
                    await asyncio.sleep(30)
            except asyncio.CancelledError:
                assert control.absorb()
                return f"stopped: {control.reason}"
            return "finished"

    task = asyncio.create_task(run())
    await waiting.wait()
    control = registry.get("r1")
    assert control is not None
    control.request_cancel("cancelled in a test")
    assert await task == "stopped: cancelled in a test"
    assert registry.get("r1") is None
    assert control.finished.is_set()


async def test_a_cancel_between_waits_takes_effect_at_the_next_wait() -> None:
    registry = RunRegistry()
    with registry.track("r2") as control:
        control.request_cancel("early")
        with pytest.raises(asyncio.CancelledError), control.interruptible():
            await asyncio.sleep(30)
        assert control.absorb()
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_an_outside_cancellation_still_propagates() -> None:
    registry = RunRegistry()
    waiting = asyncio.Event()
    absorbed: list[bool] = []

    async def run() -> None:
        with registry.track("r3") as control:
            try:
                with control.interruptible():
                    waiting.set()
                    await asyncio.sleep(30)
            except asyncio.CancelledError:
                absorbed.append(control.absorb())
                raise

    task = asyncio.create_task(run())
    await waiting.wait()
    registry.get("r3").request_cancel("by the API")  # type: ignore[union-attr]
    task.cancel()  # and the client went away at the same time
    with pytest.raises(asyncio.CancelledError):
        await task
    assert absorbed == [False]
