"""The in-process AgentClient: a direct call, with the same guarantees as a network call."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing

from aether.agents.contract import Agent, AgentEvent, AgentRequest, ErrorEvent, FinalEvent

log = logging.getLogger(__name__)


class InProcessAgentClient:
    """Calls an agent in this process. An agent that raises, or stops without a final event,
    still gives its caller a terminal ErrorEvent, exactly as a broken remote agent would."""

    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    async def stream(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        terminal = False
        try:
            async with aclosing(self._agent.stream(request)) as events:
                async for event in events:
                    terminal = isinstance(event, FinalEvent | ErrorEvent)
                    yield event
        except Exception as exc:
            log.exception("agent %s failed on run %s", request.agent.value, request.run_id)
            yield ErrorEvent(
                agent=request.agent,
                code="agent_error",
                message=f"The {request.agent.value} failed ({type(exc).__name__}).",
            )
            return
        if not terminal:
            yield ErrorEvent(
                agent=request.agent,
                code="agent_error",
                message=f"The {request.agent.value} stopped without an answer.",
            )
