"""The in-process AgentClient: a direct call, with the same guarantees as a network call.

It is also where an agent's work is traced: every agent invocation, in the monolith or behind an
A2A service, goes through one of these, so each gets one AGENT span (an analyst's span is one
attempt: the orchestrator calls it again, with other parameters, for a retry).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing

from aether.agents.contract import (
    Agent,
    AgentEvent,
    AgentRequest,
    ErrorEvent,
    FinalEvent,
    FindingsEvent,
    InputRequiredEvent,
    ends_call,
)
from aether.observability import tracing

log = logging.getLogger(__name__)


class InProcessAgentClient:
    """Calls an agent in this process. An agent that raises, or stops without a final event (or
    a question for the user), still gives its caller a terminal ErrorEvent, exactly as a broken
    remote agent would."""

    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    async def stream(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        attributes: dict[str, str | int] = {
            "aether.run_id": request.run_id,
            "aether.agent": request.agent.value,
        }
        if request.attempt is not None:
            attributes["aether.attempt"] = request.attempt
        with tracing.span(request.agent.value, "AGENT", attributes) as span:
            if span.recording:
                span.set_inputs(request.model_dump(mode="json", exclude={"history"}))
            async with aclosing(self._events(request)) as events:
                async for event in events:
                    if span.recording:
                        _observe(span, event)
                    yield event

    async def _events(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        terminal = False
        try:
            async with aclosing(self._agent.stream(request)) as events:
                async for event in events:
                    terminal = ends_call(event)
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


def _observe(span: tracing.Span, event: AgentEvent) -> None:
    """What the trace shows of the agent's events: its findings, its answer or its error."""
    if isinstance(event, FindingsEvent):
        span.set_attributes(
            {"aether.findings": len(event.findings), "aether.confidence": event.confidence}
        )
    elif isinstance(event, FinalEvent):
        span.set_outputs(event.text)
    elif isinstance(event, InputRequiredEvent):
        span.set_outputs({"input_required": event.question, "proposals": event.proposal_ids})
    elif isinstance(event, ErrorEvent):
        span.set_attributes({"aether.error_code": event.code})
        span.fail(event.message)
