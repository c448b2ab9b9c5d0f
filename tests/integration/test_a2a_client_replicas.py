"""Several replicas of one agent service behind one A2AAgentClient: calls take turns, a replica
that refuses the connection is passed over, a request that reached a replica is never sent again,
and readiness needs one replica. Real services and real A2A servers on loopback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import ExitStack, aclosing
from pathlib import Path

import httpx
import pytest
from a2a.helpers.proto_helpers import new_text_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import Role as MessageRole
from fastapi import FastAPI
from starlette.applications import Starlette

from aether.agents.contract import (
    AgentEvent,
    AgentName,
    AgentRequest,
    ErrorEvent,
    FinalEvent,
    StatusEvent,
)
from aether.config import Role
from aether.mesh.a2a_client import A2AAgentClient
from aether.mesh.service_health import check_downstream
from tests.a2a_harness import SERVICE_TOKEN, RunningService, running_service
from tests.fakes.a2a_agent import sdk_agent_app
from tests.integration.test_a2a_services import job_processes
from tests.servers import free_port, serve_in_thread


class _NamedAgent(AgentExecutor):
    """Answers with its replica's name, and counts what it was asked."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.requests = 0

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        self.requests += 1
        reply = new_text_message(
            f"{self.name}: {context.get_user_input()}", role=MessageRole.ROLE_AGENT
        )
        await event_queue.enqueue_event(reply)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Nothing runs between events."""


def named_agent_app(agent: _NamedAgent) -> Starlette:
    return sdk_agent_app(agent, name=agent.name, description="one replica of a plain A2A agent")


def health_app() -> FastAPI:
    app = FastAPI()
    app.get("/health")(lambda: {"status": "ok"})
    return app


@pytest.fixture
def two_replicas() -> Iterator[tuple[_NamedAgent, str, _NamedAgent, str]]:
    first, second = _NamedAgent("first"), _NamedAgent("second")
    with (
        serve_in_thread(named_agent_app(first)) as first_url,
        serve_in_thread(named_agent_app(second)) as second_url,
    ):
        yield first, first_url, second, second_url


def request(run_id: str = "run-1") -> AgentRequest:
    return AgentRequest(run_id=run_id, agent=AgentName.ENERGY_ANALYST, question="baseload?")


def answers(client: A2AAgentClient, calls: int) -> list[list[AgentEvent]]:
    """The events of `calls` calls made one after the other with one client."""

    async def run() -> list[list[AgentEvent]]:
        try:
            return [[e async for e in client.stream(request(f"r-{n}"))] for n in range(calls)]
        finally:
            await client.aclose()

    return asyncio.run(run())


def final_texts(calls: list[list[AgentEvent]]) -> list[str]:
    return [e.text for events in calls for e in events if isinstance(e, FinalEvent)]


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_calls_take_turns_over_the_replicas(
    two_replicas: tuple[_NamedAgent, str, _NamedAgent, str],
) -> None:
    first, first_url, second, second_url = two_replicas
    client = A2AAgentClient([first_url, second_url], None, 10)
    texts = final_texts(answers(client, 4))
    assert texts == ["first: baseload?", "second: baseload?"] * 2
    assert (first.requests, second.requests) == (2, 2)


def test_a_replica_that_refuses_the_connection_is_passed_over(
    two_replicas: tuple[_NamedAgent, str, _NamedAgent, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aether.mesh.a2a_client")
    _, first_url, first_alive, _ = two_replicas
    nobody = dead_url()
    client = A2AAgentClient([nobody, first_url], None, 10, connect_retries=0, retry_delay=0.01)
    texts = final_texts(answers(client, 2))
    # The first call fails over even without retries configured; the second starts at the
    # replica whose turn it is.
    assert texts == ["first: baseload?", "first: baseload?"]
    refusals = [r.getMessage() for r in caplog.records if "refused the connection" in r.message]
    assert len(refusals) == 1
    assert refusals[0].startswith(f"{nobody}/ refused")
    assert refusals[0].endswith(f"at {first_url}/")
    assert first_alive.requests == 0


def test_when_every_replica_refuses_each_is_tried_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="aether.mesh.a2a_client")
    client = A2AAgentClient([dead_url(), dead_url()], None, 10, connect_retries=5, retry_delay=0.01)
    [[event]] = answers(client, 1)
    assert isinstance(event, ErrorEvent)
    assert (event.code, event.message) == (
        "agent_unavailable",
        "The energy-analyst is unreachable.",
    )
    assert "retry 1 of 1" in caplog.text
    assert "retry 2" not in caplog.text


def test_an_empty_replica_list_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one base URL"):
        A2AAgentClient([], None, 10)


@pytest.fixture(scope="module")
def analysts_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RunningService]]:
    root = tmp_path_factory.mktemp("analysts-pair")
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                running_service(Role.DS_ANALYSTS, root / name, deployment_mode="distributed")
            )
            for name in ("one", "two")
        ]


def test_a_cancel_goes_to_the_replica_that_holds_the_stream(
    analysts_pair: list[RunningService], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aether.mesh.a2a_client")
    one, two = analysts_pair
    client = A2AAgentClient([one.base_url, two.base_url], SERVICE_TOKEN, 30)
    data_dir = two.settings.aether_data_dir.resolve()

    async def answer_once_then_leave_the_second_call() -> AgentEvent:
        try:
            first = [event async for event in client.stream(request("r-first"))]
            async with aclosing(client.stream(request("r-left"))) as events:
                async for event in events:
                    if isinstance(event, StatusEvent) and "sandbox" in event.message:
                        assert job_processes(data_dir), "the second replica runs the job"
                        break
            return first[-1]
        finally:
            await client.aclose()

    assert isinstance(asyncio.run(answer_once_then_leave_the_second_call()), FinalEvent)
    [cancelled] = [r.getMessage() for r in caplog.records if "cancelled task" in r.message]
    assert f"at {two.base_url}/ (run r-left)" in cancelled
    assert job_processes(data_dir) == []


def test_a_stopped_replica_leaves_the_other_serving(tmp_path: Path) -> None:
    with ExitStack() as everything:
        survivor = everything.enter_context(
            running_service(Role.DS_ANALYSTS, tmp_path / "two", deployment_mode="distributed")
        )
        with ExitStack() as doomed_stack:
            doomed = doomed_stack.enter_context(
                running_service(Role.DS_ANALYSTS, tmp_path / "one", deployment_mode="distributed")
            )
            urls = [doomed.base_url, survivor.base_url]

            async def calls() -> list[AgentEvent]:
                client = A2AAgentClient(urls, SERVICE_TOKEN, 30, retry_delay=0.01)
                try:
                    first = [e async for e in client.stream(request("r-1"))]
                    doomed_stack.close()  # the replica stops; its port refuses connections
                    others = [[e async for e in client.stream(request(f"r-{n}"))] for n in (2, 3)]
                    return [first[-1], *(events[-1] for events in others)]
                finally:
                    await client.aclose()

            last_events = asyncio.run(calls())
    assert all(isinstance(event, FinalEvent) for event in last_events), last_events


def test_a_replica_that_breaks_mid_stream_is_not_asked_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aether.mesh.a2a_client")
    other = _NamedAgent("other")
    with (
        running_service(
            Role.DS_ANALYSTS, tmp_path / "analysts", deployment_mode="distributed"
        ) as breaking,
        serve_in_thread(named_agent_app(other)) as other_url,
    ):
        client = A2AAgentClient([breaking.base_url, other_url], SERVICE_TOKEN, 30)

        async def stream_until_it_breaks() -> list[AgentEvent]:
            seen: list[AgentEvent] = []
            try:
                async for event in client.stream(request("r-broken")):
                    seen.append(event)
                    if isinstance(event, StatusEvent) and "sandbox" in event.message:
                        breaking.stop(force=True)
                return seen
            finally:
                await client.aclose()

        events = asyncio.run(stream_until_it_breaks())
    last = events[-1]
    assert isinstance(last, ErrorEvent)
    assert last.code == "agent_unavailable"
    # A dropped connection, or a stream the stopping server closed: either way it is over.
    assert last.message in (
        "The energy-analyst stopped answering mid-stream.",
        "The energy-analyst ended without an answer.",
    )
    assert other.requests == 0  # the work is never sent twice
    assert "refused the connection" not in caplog.text
    # The task is cancelled at the replica that held it; it is gone, so at another one.
    assert f"at {other_url}/ was not cancelled: TaskNotFoundError" in caplog.text


@pytest.mark.parametrize("alive", [True, False])
def test_readiness_needs_one_replica_of_the_downstream(tmp_path: Path, alive: bool) -> None:
    with serve_in_thread(health_app()) as live_url:
        replicas = f"{dead_url()}, {live_url if alive else dead_url()}"
        with (
            running_service(
                Role.DS_ORCHESTRATOR,
                tmp_path,
                deployment_mode="distributed",
                ds_analysts_url=replicas,
            ) as orchestrator,
            orchestrator.http() as http,
        ):
            response = http.get("/ready")
    downstream = response.json()["checks"]["downstream"]
    if alive:
        assert (response.status_code, downstream) == (200, "ok")
    else:
        assert response.status_code == 503
        assert downstream.startswith("error: no replica answers: ")
        assert downstream.count("unreachable") == 2


def test_the_gateway_is_ready_while_one_architect_replica_answers(tmp_path: Path) -> None:
    with (
        serve_in_thread(health_app()) as live_url,
        running_service(
            Role.GATEWAY,
            tmp_path,
            deployment_mode="distributed",
            architect_service_url=f"{dead_url()},{live_url}",
        ) as gateway,
        gateway.http() as http,
    ):
        response = http.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["architect"] == "ok"


def test_a_health_probe_of_a_replica_list_is_not_confused_by_a_single_url() -> None:
    """A plain string is one URL, not a list of its characters."""

    async def probe(url: str) -> str:
        async with httpx.AsyncClient() as http:
            return await check_downstream(http, url)

    with serve_in_thread(health_app()) as live_url:
        assert asyncio.run(probe(live_url)) == "ok"
