"""AgentEvent <-> A2A events and AgentRequest <-> A2A Message survive the wire unchanged."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from a2a.helpers.proto_helpers import new_text_message
from a2a.types.a2a_pb2 import (
    Message,
    Role,
    StreamResponse,
    Task,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from a2a.utils.proto_utils import to_stream_response
from google.protobuf.json_format import MessageToDict, ParseDict

from aether.agents.contract import (
    AgentEvent,
    AgentName,
    AgentRequest,
    ChatTurn,
    ErrorEvent,
    FinalEvent,
    FindingsEvent,
    ServiceName,
    Stage,
    StatusEvent,
    TextDelta,
    UsageEvent,
)
from aether.analysis.findings import AnalysisParams, Evidence, Finding, Metric
from aether.mesh.a2a_mapping import (
    ANSWER_ARTIFACT,
    EventDecoder,
    EventEncoder,
    RequestMappingError,
    request_from_message,
    request_to_message,
)

START = datetime(2026, 3, 2, tzinfo=UTC)
END = datetime(2026, 3, 9, tzinfo=UTC)

FINDING = Finding(
    analyst="energy",
    kind="consumption_total",
    title="Consumption last week",
    summary="The household used 61.4 kWh last week.",
    confidence=0.93,
    metrics=[
        Metric(name="total", value=61.4, unit="kWh", entity_id="sensor.grid"),
        Metric(name="peak", value=4326.0, unit="W", at=datetime(2026, 3, 4, 18, 15, tzinfo=UTC)),
    ],
    entities=["sensor.grid", "sensor.heat_pump"],
    evidence=[Evidence(description="grid meter", entity_id="sensor.grid", start=START, end=END)],
    period_start=START,
    period_end=END,
    importance=0.9,
)

EVENTS: list[AgentEvent] = [
    StatusEvent(
        agent=AgentName.ENERGY_ANALYST,
        stage=Stage.DATA_LOADED,
        message="Loaded 20160 states of 6 entities",
        data={"states": 20160, "entities": 6, "seconds": 0.512, "names": ["a", "b"]},
    ),
    TextDelta(agent=AgentName.ARCHITECT, text="You used **61.4 kWh** last week.\n"),
    TextDelta(agent=AgentName.ARCHITECT, text="Your baseload is 182 W."),
    FindingsEvent(
        agent=AgentName.DS_ORCHESTRATOR, analyst="energy", findings=[FINDING], confidence=0.93
    ),
    FindingsEvent(agent=AgentName.ENERGY_ANALYST, analyst=None, findings=[], confidence=0.0),
    UsageEvent(agent=AgentName.ARCHITECT, prompt_tokens=812, completion_tokens=96),
    FinalEvent(agent=AgentName.ARCHITECT, text="You used 61.4 kWh last week."),
    FinalEvent(agent=AgentName.ARCHITECT, text=""),
    ErrorEvent(agent=AgentName.DS_ORCHESTRATOR, code="analysis_failed", message="Job timed out."),
]


def over_the_wire(response: StreamResponse) -> StreamResponse:
    """What a JSON-RPC client parses out of the SSE frame the server wrote."""
    text = json.dumps(MessageToDict(response))
    return ParseDict(json.loads(text), StreamResponse())


def round_trip(events: list[AgentEvent]) -> list[AgentEvent]:
    encoder = EventEncoder("task-1", "context-1")
    decoder = EventDecoder(AgentName.ARCHITECT)
    decoded: list[AgentEvent] = []
    for event in events:
        decoded.extend(decoder.decode(over_the_wire(to_stream_response(encoder.encode(event)))))
    return decoded


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: f"{e.type}")
def test_every_event_type_survives_the_round_trip(event: AgentEvent) -> None:
    [decoded] = round_trip([event])
    assert decoded == event
    assert type(decoded) is type(event)


def test_a_whole_stream_survives_in_order() -> None:
    assert round_trip(EVENTS) == EVENTS


def test_typed_numbers_keep_their_type() -> None:
    [decoded] = round_trip([EVENTS[3]])
    assert isinstance(decoded, FindingsEvent)
    assert decoded.findings[0].metrics[1].value == 4326.0
    assert isinstance(decoded.findings[0].metrics[1].value, float)
    [status] = round_trip([EVENTS[0]])
    assert isinstance(status, StatusEvent)
    assert status.data["states"] == 20160
    assert isinstance(status.data["states"], int)


def test_events_map_onto_the_a2a_event_kinds() -> None:
    encoder = EventEncoder("t", "c")
    status = encoder.encode(EVENTS[0])
    assert isinstance(status, TaskStatusUpdateEvent)
    assert status.status.state == TaskState.TASK_STATE_WORKING
    assert status.status.message.parts[0].text == "Loaded 20160 states of 6 entities"
    first, second = encoder.encode(EVENTS[1]), encoder.encode(EVENTS[2])
    assert first.artifact.artifact_id == second.artifact.artifact_id == ANSWER_ARTIFACT
    assert (first.append, second.append) == (False, True)
    findings = encoder.encode(EVENTS[3])
    assert findings.artifact.name == "findings"
    assert findings.artifact.parts[0].HasField("data")
    final = encoder.encode(EVENTS[6])
    assert final.status.state == TaskState.TASK_STATE_COMPLETED
    assert final.status.message.parts[0].text == "You used 61.4 kWh last week."
    error = encoder.encode(EVENTS[8])
    assert error.status.state == TaskState.TASK_STATE_FAILED
    assert "Job timed out." in error.status.message.parts[0].text


def test_a_foreign_agent_is_read_from_its_plain_parts() -> None:
    decoder = EventDecoder(AgentName.ARCHITECT)
    working = TaskStatusUpdateEvent(
        task_id="t", status=TaskStatus(state=TaskState.TASK_STATE_WORKING)
    )
    assert decoder.decode(to_stream_response(working)) == []
    failed = TaskStatusUpdateEvent(
        task_id="t",
        status=TaskStatus(
            state=TaskState.TASK_STATE_FAILED,
            message=new_text_message("disk full", role=Role.ROLE_AGENT),
        ),
    )
    [error] = decoder.decode(to_stream_response(failed))
    assert isinstance(error, ErrorEvent)
    assert error.code == "agent_error"
    assert "disk full" in error.message
    reply = decoder.decode(to_stream_response(new_text_message("hi", role=Role.ROLE_AGENT)))
    assert reply == [
        TextDelta(agent=AgentName.ARCHITECT, text="hi"),
        FinalEvent(agent=AgentName.ARCHITECT, text="hi"),
    ]


def test_a_finished_task_snapshot_yields_its_contents() -> None:
    encoder = EventEncoder("t", "c")
    task = Task(id="t", context_id="c", status=TaskStatus(state=TaskState.TASK_STATE_COMPLETED))
    task.artifacts.append(encoder.encode(EVENTS[1]).artifact)
    task.status.CopyFrom(encoder.encode(EVENTS[6]).status)
    decoder = EventDecoder(AgentName.ARCHITECT)
    assert decoder.decode(over_the_wire(to_stream_response(task))) == [EVENTS[1], EVENTS[6]]
    assert decoder.task_id == "t"


REQUEST = AgentRequest(
    run_id="run-42",
    agent=AgentName.DS_ORCHESTRATOR,
    question="How much energy did I use last week?",
    history=[ChatTurn(role="user", content="hi"), ChatTurn(role="assistant", content="hello")],
    analysis=AnalysisParams(
        window_start=START,
        window_end=END,
        timezone="Europe/Berlin",
        window_label="last week",
        max_gap_minutes=120.0,
        focus_entities=["sensor.grid"],
    ),
    analysts=["energy", "diagnostic"],
)


def message_over_the_wire(message: Message) -> Message:
    return ParseDict(json.loads(json.dumps(MessageToDict(message))), Message())


def test_requests_survive_the_round_trip() -> None:
    message = message_over_the_wire(request_to_message(REQUEST))
    assert message.parts[0].text == REQUEST.question
    assert request_from_message(message, ServiceName.DS_ORCHESTRATOR) == REQUEST


def test_a_request_for_another_service_is_refused() -> None:
    with pytest.raises(RequestMappingError, match="ds-orchestrator"):
        request_from_message(request_to_message(REQUEST), ServiceName.ARCHITECT)


def plain(text: str, **metadata: str) -> Message:
    message = new_text_message(text, role=Role.ROLE_USER)
    message.metadata.update(metadata)
    return message


def test_plain_text_reaches_the_service_agent() -> None:
    request = request_from_message(plain("How much did I use?"), ServiceName.ARCHITECT)
    assert request.agent is AgentName.ARCHITECT
    assert request.question == "How much did I use?"
    assert request.run_id


@pytest.mark.parametrize(
    ("text", "metadata", "expected"),
    [
        ("Are any sensors missing data?", {}, AgentName.DIAGNOSTIC_ANALYST),
        ("What are my daily habits and routines?", {}, AgentName.BEHAVIORAL_ANALYST),
        ("hello there", {}, AgentName.ENERGY_ANALYST),
        ("anything", {"agent": "behavioral-analyst"}, AgentName.BEHAVIORAL_ANALYST),
        ("anything", {"skill": "diagnostic"}, AgentName.DIAGNOSTIC_ANALYST),
    ],
)
def test_plain_text_to_the_analysts_picks_an_analyst(
    text: str, metadata: dict[str, str], expected: AgentName
) -> None:
    request = request_from_message(plain(text, **metadata), ServiceName.DS_ANALYSTS)
    assert request.agent is expected


def test_request_metadata_can_pick_the_analyst_too() -> None:
    request = request_from_message(
        plain("anything"), ServiceName.DS_ANALYSTS, {"agent": "energy-analyst", "run_id": "r-1"}
    )
    assert (request.agent, request.run_id) == (AgentName.ENERGY_ANALYST, "r-1")


def test_unknown_analysts_and_empty_messages_are_refused() -> None:
    with pytest.raises(RequestMappingError, match="Unknown analyst"):
        request_from_message(plain("x", agent="plumber"), ServiceName.DS_ANALYSTS)
    empty = Message(message_id="m", role=Role.ROLE_USER)
    with pytest.raises(RequestMappingError, match="no text"):
        request_from_message(empty, ServiceName.ARCHITECT)
