"""Text deltas that are ready together share one A2A event; nothing waits for a batch, and
nothing is lost or reordered on the way (the executor driven by the SDK's own request handler)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator

import pytest
from a2a.helpers.proto_helpers import new_text_message
from a2a.server.context import ServerCallContext
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.tasks import InMemoryTaskStore
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    Role,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatusUpdateEvent,
)
from a2a.utils.proto_utils import to_stream_response
from google.protobuf.json_format import MessageToDict, ParseDict

from aether.agents.contract import (
    AgentEvent,
    AgentName,
    AgentRequest,
    FinalEvent,
    ServiceName,
    Stage,
    StatusEvent,
    TextDelta,
)
from aether.config import load_settings
from aether.mesh.a2a_executor import MeshAgentExecutor
from aether.mesh.a2a_mapping import ANSWER_ARTIFACT, EventDecoder, EventEncoder
from aether.mesh.cards import service_card

ARCHITECT = AgentName.ARCHITECT
STATUS = StatusEvent(agent=ARCHITECT, stage=Stage.WRITING, message="Writing")
PIECES = ["Hi, I'm **Aether**.\n", "\n", "Ask me about your energy.\n", "For example: baseload."]
DELTAS = [TextDelta(agent=ARCHITECT, text=piece) for piece in PIECES]
FINAL = FinalEvent(agent=ARCHITECT, text="".join(PIECES))


def over_the_wire(event: TaskStatusUpdateEvent | TaskArtifactUpdateEvent) -> StreamResponse:
    text = json.dumps(MessageToDict(to_stream_response(event)))
    return ParseDict(json.loads(text), StreamResponse())


def test_consecutive_deltas_share_one_artifact_update_and_come_back_one_by_one() -> None:
    other = TextDelta(agent=AgentName.ENERGY_ANALYST, text="from an analyst")
    events: list[AgentEvent] = [STATUS, *DELTAS[:2], other, *DELTAS[2:], FINAL]
    encoder = EventEncoder("t", "c")
    encoded = encoder.encode_all(events)
    kinds = [type(event).__name__ for event in encoded]
    assert kinds == [
        "TaskStatusUpdateEvent",
        "TaskArtifactUpdateEvent",  # the first two deltas
        "TaskArtifactUpdateEvent",  # another agent's delta is not merged with them
        "TaskArtifactUpdateEvent",  # the last two
        "TaskStatusUpdateEvent",
    ]
    answers = [event for event in encoded if isinstance(event, TaskArtifactUpdateEvent)]
    assert [len(event.artifact.parts) for event in answers] == [2, 1, 2]
    assert [event.append for event in answers] == [False, True, True]
    assert {event.artifact.artifact_id for event in answers} == {ANSWER_ARTIFACT}
    decoder = EventDecoder(ARCHITECT)
    decoded = [e for event in encoded for e in decoder.decode(over_the_wire(event))]
    assert decoded == events


def test_a_lone_event_is_encoded_as_before() -> None:
    assert EventEncoder("t", "c").encode_all([]) == []
    [alone] = EventEncoder("t", "c").encode_all([DELTAS[0]])
    assert alone == EventEncoder("t", "c").encode(DELTAS[0])


class ScriptedAgent:
    """Yields the script; a float in it is a pause of that many seconds (an LLM between tokens)."""

    def __init__(self, script: list[AgentEvent | float]) -> None:
        self.script = script
        self.closed = asyncio.Event()
        self.cancelled = False

    async def stream(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        try:
            for step in self.script:
                if isinstance(step, float):
                    await asyncio.sleep(step)
                else:
                    yield step
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            self.closed.set()


def handler_for(agent: ScriptedAgent) -> DefaultRequestHandler:
    return DefaultRequestHandler(
        agent_executor=MeshAgentExecutor(ServiceName.ARCHITECT, agent),
        task_store=InMemoryTaskStore(),
        agent_card=service_card(load_settings(), ServiceName.ARCHITECT, on_gateway=False),
    )


def hello() -> SendMessageRequest:
    return SendMessageRequest(message=new_text_message("hello", role=Role.ROLE_USER))


async def published(agent: ScriptedAgent) -> tuple[list[object], Task | None]:
    handler = handler_for(agent)
    context = ServerCallContext()
    events = [event async for event in handler.on_message_send_stream(hello(), context)]
    task_ids = {getattr(event, "task_id", "") for event in events} - {""}
    task = await handler.on_get_task(GetTaskRequest(id=task_ids.pop()), context)
    await handler.aclose()
    return events, task


async def test_text_ready_at_once_is_published_as_one_event() -> None:
    events, task = await published(ScriptedAgent([STATUS, *DELTAS, FINAL]))
    artifacts = [event for event in events if isinstance(event, TaskArtifactUpdateEvent)]
    statuses = [event for event in events if isinstance(event, TaskStatusUpdateEvent)]
    assert len(artifacts) == 1
    assert [part.text for part in artifacts[0].artifact.parts] == PIECES
    assert [status.status.state for status in statuses] == [
        TaskState.TASK_STATE_WORKING,
        TaskState.TASK_STATE_COMPLETED,
    ]
    assert task is not None
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert [part.text for part in task.artifacts[0].parts] == PIECES


async def test_text_that_trickles_in_is_published_as_it_comes() -> None:
    script: list[AgentEvent | float] = [STATUS]
    for delta in DELTAS:
        script += [0.02, delta]
    events, task = await published(ScriptedAgent([*script, FINAL]))
    artifacts = [event for event in events if isinstance(event, TaskArtifactUpdateEvent)]
    assert [[part.text for part in a.artifact.parts] for a in artifacts] == [[p] for p in PIECES]
    assert task is not None
    assert "".join(part.text for part in task.artifacts[0].parts) == "".join(PIECES)


async def test_cancel_stops_the_agent_before_the_task_is_canceled() -> None:
    agent = ScriptedAgent([STATUS, 30.0, FINAL])
    handler = handler_for(agent)
    context = ServerCallContext()
    seen: list[object] = []
    async for event in handler.on_message_send_stream(hello(), context):
        seen.append(event)
        working = isinstance(event, TaskStatusUpdateEvent) and (
            event.status.state == TaskState.TASK_STATE_WORKING
        )
        if working and not agent.closed.is_set():
            assert isinstance(event, TaskStatusUpdateEvent)
            task = await handler.on_cancel_task(CancelTaskRequest(id=event.task_id), context)
            assert task is not None
            assert task.status.state == TaskState.TASK_STATE_CANCELED
            assert agent.cancelled  # the agent had stopped before CANCELED was written
    last = seen[-1]
    assert isinstance(last, TaskStatusUpdateEvent)
    assert last.status.state == TaskState.TASK_STATE_CANCELED
    await handler.aclose()


@pytest.mark.parametrize("pause", [0.0, 0.01])
async def test_the_stream_ends_with_the_agents_terminal_event(pause: float) -> None:
    script: list[AgentEvent | float] = [STATUS, pause, DELTAS[0], FINAL]
    events, _ = await published(ScriptedAgent(script))
    last = events[-1]
    assert isinstance(last, TaskStatusUpdateEvent)
    assert last.status.state == TaskState.TASK_STATE_COMPLETED
