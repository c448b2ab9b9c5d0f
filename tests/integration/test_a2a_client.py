"""A2AAgentClient: every failure ends the stream with an ErrorEvent, nothing keeps running for
nobody, and the run id and trace context reach the service."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import aclosing

import pytest
from a2a.helpers.proto_helpers import new_task, new_text_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import (
    Role as MessageRole,
)
from a2a.types.a2a_pb2 import (
    TaskState,
)
from starlette.applications import Starlette

from aether.agents.contract import (
    AgentEvent,
    AgentName,
    AgentRequest,
    ErrorEvent,
    FinalEvent,
    StatusEvent,
    TextDelta,
)
from aether.config import Role
from aether.mesh.a2a_client import A2AAgentClient
from aether.mesh.trace_context import trace_id_for_run
from tests.a2a_harness import SERVICE_TOKEN, RunningService, running_service
from tests.fakes.a2a_agent import sdk_agent_app
from tests.integration.test_a2a_services import job_processes
from tests.servers import free_port, serve_in_thread


@pytest.fixture(scope="module")
def analysts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    with running_service(
        Role.DS_ANALYSTS, tmp_path_factory.mktemp("analysts"), deployment_mode="distributed"
    ) as running:
        yield running


def collect(client: A2AAgentClient, request: AgentRequest) -> list[AgentEvent]:
    async def run() -> list[AgentEvent]:
        try:
            return [event async for event in client.stream(request)]
        finally:
            await client.aclose()

    return asyncio.run(run())


def energy_request(
    run_id: str = "run-1", agent: AgentName = AgentName.ENERGY_ANALYST
) -> AgentRequest:
    return AgentRequest(run_id=run_id, agent=agent, question="What is my baseload?")


def test_a_refused_connection_is_retried_then_reported(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="aether.mesh.a2a_client")
    client = A2AAgentClient(
        f"http://127.0.0.1:{free_port()}", SERVICE_TOKEN, 5, connect_retries=2, retry_delay=0.01
    )
    [event] = collect(client, energy_request())
    assert isinstance(event, ErrorEvent)
    assert (event.agent, event.code) == (AgentName.ENERGY_ANALYST, "agent_unavailable")
    assert event.message == "The energy-analyst is unreachable."
    assert "retry 2 of 2" in caplog.text


def test_a_wrong_credential_is_an_unauthorized_error(analysts: RunningService) -> None:
    [event] = collect(A2AAgentClient(analysts.base_url, "wrong", 5), energy_request())
    assert isinstance(event, ErrorEvent)
    assert event.code == "agent_unauthorized"


def test_a_request_the_service_does_not_host_is_rejected(analysts: RunningService) -> None:
    client = A2AAgentClient(analysts.base_url, SERVICE_TOKEN, 30)
    [event] = collect(client, energy_request(agent=AgentName.ARCHITECT))
    assert isinstance(event, ErrorEvent)
    assert event.code == "invalid_request"
    assert "ds-analysts" in event.message


def test_run_id_and_trace_context_reach_the_service(
    analysts: RunningService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aether.mesh.a2a_executor")
    events = collect(A2AAgentClient(analysts.base_url, SERVICE_TOKEN, 30), energy_request("r-77"))
    assert isinstance(events[-1], FinalEvent)
    [started] = [r for r in caplog.records if "run r-77, agent" in r.getMessage()]
    assert f"traceparent 00-{trace_id_for_run('r-77')}-" in started.getMessage()
    assert started.run_id == "r-77"  # type: ignore[attr-defined]
    assert started.trace_id == trace_id_for_run("r-77")  # type: ignore[attr-defined]


def test_a_caller_that_stops_listening_cancels_the_remote_analysis(
    analysts: RunningService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aether.mesh.a2a_client")
    data_dir = analysts.settings.aether_data_dir.resolve()

    async def listen_until_the_sandbox_runs() -> None:
        client = A2AAgentClient(analysts.base_url, SERVICE_TOKEN, 30)
        try:
            async with aclosing(client.stream(energy_request("r-gone"))) as events:
                async for event in events:
                    if isinstance(event, StatusEvent) and "sandbox" in event.message:
                        assert job_processes(data_dir)
                        break  # the caller goes away (the gateway when its client disconnects)
        finally:
            await client.aclose()

    asyncio.run(listen_until_the_sandbox_runs())
    assert "cancelled task" in caplog.text
    assert job_processes(data_dir) == []
    assert list((data_dir / "sandbox").iterdir()) == []


class _PlainAgent(AgentExecutor):
    """A bare a2a-sdk agent: answers with a message, or (`silent`) starts a task and walks away."""

    def __init__(self, *, silent: bool) -> None:
        self._silent = silent

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.task_id
        assert context.context_id
        assert context.message
        if self._silent:
            await event_queue.enqueue_event(
                new_task(context.task_id, context.context_id, TaskState.TASK_STATE_WORKING)
            )
            return
        reply = new_text_message(f"echo: {context.get_user_input()}", role=MessageRole.ROLE_AGENT)
        await event_queue.enqueue_event(reply)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Nothing runs between events."""


def plain_agent_app(*, silent: bool) -> Starlette:
    return sdk_agent_app(_PlainAgent(silent=silent), name="echo", description="a plain A2A agent")


def test_a_plain_a2a_agent_can_be_called_with_text() -> None:
    with serve_in_thread(plain_agent_app(silent=False)) as url:
        events = collect(A2AAgentClient(url, None, 10), energy_request())
    assert events == [
        TextDelta(agent=AgentName.ENERGY_ANALYST, text="echo: What is my baseload?"),
        FinalEvent(agent=AgentName.ENERGY_ANALYST, text="echo: What is my baseload?"),
    ]


def test_a_stream_that_ends_without_a_result_is_an_error() -> None:
    with serve_in_thread(plain_agent_app(silent=True)) as url:
        started = time.monotonic()
        [event] = collect(A2AAgentClient(url, None, 10), energy_request())
    assert isinstance(event, ErrorEvent)
    assert event.code == "agent_unavailable"
    assert "ended without an answer" in event.message
    assert time.monotonic() - started < 10
