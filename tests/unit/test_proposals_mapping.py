"""Proposals and questions cross A2A without loss: a proposal is an artifact, a question the
interrupted INPUT_REQUIRED state with the waiting task's ids, and an answer goes on that task."""

from __future__ import annotations

from a2a.types.a2a_pb2 import (
    Message,
    Part,
    Role,
    StreamResponse,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)

from aether.agents.contract import (
    AgentName,
    AgentRequest,
    InputRequiredEvent,
    ProposalEvent,
    ServiceName,
    ends_call,
)
from aether.agents.proposals.automation import (
    automation_config,
    switch_action,
    time_trigger,
)
from aether.agents.proposals.model import (
    Justification,
    ProposalDraft,
    ProposalKind,
    ProposalOutcome,
    ProposalStatus,
    ResumeInput,
    Saving,
)
from aether.mesh.a2a_mapping import (
    EventDecoder,
    EventEncoder,
    is_terminal,
    request_from_message,
    request_to_message,
)
from tests.unit.test_a2a_mapping import over_the_wire, round_trip

DRAFT = ProposalDraft(
    id="3f2a9c1b7d4e",
    kind=ProposalKind.ROUTINE,
    title="Coffee machine on at 07:00 on weekdays",
    entities=["switch.coffee_machine"],
    automation=automation_config(
        "aether_switch_coffee_machine_on_0700_weekdays",
        "Aether: Coffee machine on at 07:00 on weekdays",
        "Proposed by Aether.",
        triggers=[time_trigger(420)],
        conditions=[{"condition": "time", "weekday": ["mon", "tue", "wed", "thu", "fri"]}],
        actions=[switch_action("switch.coffee_machine", on=True)],
    ),
    justification=Justification(
        finding_kind="recurring_action",
        finding_title="Recurring manual action",
        summary="Coffee machine was switched on around 07:02 on weekdays (5 of 5 days).",
        confidence=0.86,
        figures={"support_days": 5, "time": "07:02", "spread_minutes": 5.6},
    ),
    saving=Saving(summary="No energy saving.", assumptions=["You keep it up."]),
    confidence=0.86,
)
QUESTION = InputRequiredEvent(
    agent=AgentName.ARCHITECT, question="Shall I set this up?", proposal_ids=[DRAFT.id]
)


def test_a_proposal_survives_the_round_trip_as_an_artifact() -> None:
    event = ProposalEvent(agent=AgentName.ARCHITECT, proposal=DRAFT)
    assert round_trip([event]) == [event]
    encoded = EventEncoder("t", "c").encode(event)
    assert encoded.artifact.name == "proposal"
    assert encoded.artifact.parts[0].text == DRAFT.title


def test_a_question_puts_the_task_in_input_required_with_its_ids() -> None:
    encoded = EventEncoder("task-7", "context-7").encode(QUESTION)
    assert isinstance(encoded, TaskStatusUpdateEvent)
    assert encoded.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    assert encoded.status.message.parts[0].text == "Shall I set this up?"
    [decoded] = round_trip([QUESTION])
    assert decoded == QUESTION.model_copy(update={"task_id": "task-1", "context_id": "context-1"})
    assert ends_call(decoded)
    assert is_terminal(decoded)


def test_a_foreign_agent_asking_for_input_is_a_question_too() -> None:
    decoder = EventDecoder(AgentName.ARCHITECT)
    status = TaskStatus(
        state=TaskState.TASK_STATE_INPUT_REQUIRED,
        message=Message(message_id="m", role=Role.ROLE_AGENT, parts=[Part(text="Which room?")]),
    )
    response = StreamResponse(
        status_update=TaskStatusUpdateEvent(task_id="t9", context_id="c9", status=status)
    )
    [event] = decoder.decode(over_the_wire(response))
    assert event == InputRequiredEvent(
        agent=AgentName.ARCHITECT, question="Which room?", task_id="t9", context_id="c9"
    )


def test_an_answer_is_sent_on_the_waiting_task_and_arrives_whole() -> None:
    resume = ResumeInput(
        task_id="task-7",
        context_id="context-7",
        proposal_ids=[DRAFT.id],
        decision="reject",
        reason="too early",
        outcomes=[
            ProposalOutcome(
                proposal_id=DRAFT.id,
                title=DRAFT.title,
                status=ProposalStatus.REJECTED,
                detail="rejected",
            )
        ],
    )
    request = AgentRequest(
        run_id="run-2", agent=AgentName.ARCHITECT, question="reject, too early", resume=resume
    )
    message = request_to_message(request)
    assert (message.task_id, message.context_id) == ("task-7", "context-7")
    assert request_from_message(message, ServiceName.ARCHITECT) == request
    fresh = request_to_message(request.model_copy(update={"resume": None}))
    assert (fresh.task_id, fresh.context_id) == ("", "")
