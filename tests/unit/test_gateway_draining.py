"""The drain of a stopping gateway, on its own: which runs it stops, when, and how they end."""

from __future__ import annotations

import asyncio

from aether.agents.contract import AgentName, ErrorEvent
from aether.gateway.cancellation import RunRegistry
from aether.gateway.chat_service import RunOutcome
from aether.gateway.draining import Drain
from aether.gateway.errors import GATEWAY_STOPPING


async def run_until_stopped(runs: RunRegistry, run_id: str, seconds: float) -> str:
    """A run that waits `seconds` for its agent; what ended it."""
    with runs.track(run_id) as control:
        try:
            with control.interruptible():
                await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            if not control.absorb():
                raise
            return "stopped" if control.stopping else "cancelled"
    return "finished"


def test_runs_that_finish_within_the_grace_finish_and_the_others_are_stopped() -> None:
    async def scenario() -> list[str]:
        runs, drain = RunRegistry(), Drain(grace_seconds=0.3)
        drain.start(runs)
        quick = asyncio.create_task(run_until_stopped(runs, "quick", 0.1))
        slow = asyncio.create_task(run_until_stopped(runs, "slow", 30))
        await asyncio.sleep(0)  # both registered
        drain.begin()
        ended = await asyncio.wait_for(asyncio.gather(quick, slow), timeout=10)
        await drain.stop()
        return ended

    assert asyncio.run(scenario()) == ["finished", "stopped"]


def test_nothing_is_stopped_before_the_signal() -> None:
    async def scenario() -> str:
        runs, drain = RunRegistry(), Drain(grace_seconds=0)
        drain.start(runs)
        ended = await run_until_stopped(runs, "run", 0.2)
        await drain.stop()
        return ended

    assert asyncio.run(scenario()) == "finished"


def test_a_cancel_requested_before_the_stop_stays_a_cancel() -> None:
    runs = RunRegistry()
    with runs.track("run") as control:
        control.request_cancel("cancelled by the client")
        control.request_stop()
        assert not control.stopping


def test_a_stopped_run_is_worth_retrying_even_with_part_of_its_answer_sent() -> None:
    outcome = RunOutcome(text_parts=["Hello, "])
    outcome.error = ErrorEvent(agent=AgentName.ARCHITECT, code=GATEWAY_STOPPING, message="stop")
    assert outcome.retryable
    outcome.error = ErrorEvent(agent=AgentName.ARCHITECT, code="agent_failed", message="boom")
    assert not outcome.retryable
