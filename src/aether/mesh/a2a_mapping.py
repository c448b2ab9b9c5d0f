"""AgentEvent <-> A2A 1.0 events, and AgentRequest <-> A2A Message, without loss.

Each AgentEvent becomes one A2A event (a run of text deltas that are ready together may share
one), readable by any A2A client from its plain parts and restored exactly by Aether from a data
part tagged with Aether's media type:

| AgentEvent     | A2A event                                                                    |
|----------------|------------------------------------------------------------------------------|
| StatusEvent    | TaskStatusUpdateEvent WORKING; status message: text + event data part        |
| UsageEvent     | TaskStatusUpdateEvent WORKING; status message: token counts + event data part |
| TextDelta      | TaskArtifactUpdateEvent on the `answer` artifact: one text part per delta,    |
|                | `append` after the first chunk, the agent in the artifact's metadata;         |
|                | consecutive deltas of one agent encoded together share one event              |
| FindingsEvent  | TaskArtifactUpdateEvent, a new `findings` artifact holding the event data part |
| ProposalEvent  | TaskArtifactUpdateEvent, a new `proposal` artifact: its title as text + event |
|                | data part                                                                    |
| InputRequired- | TaskStatusUpdateEvent INPUT_REQUIRED (the task waits; the call ends); status |
| Event          | message: the question + event data part, stamped with the task's ids         |
| FinalEvent     | TaskStatusUpdateEvent COMPLETED; status message: answer text + event data    |
| ErrorEvent     | TaskStatusUpdateEvent FAILED (REJECTED for a request the service cannot take, |
|                | CANCELED after CancelTask); status message: error text + event data part     |

Requests travel as a user Message with the question as a text part (so a plain A2A client can
call an agent with text alone) and, from Aether callers, the whole AgentRequest as a tagged data
part. A plain-text message to `ds-analysts` picks its analyst from the message's or request's
metadata (`agent` or `skill`: `energy-analyst`, `behavioral-analyst`, `diagnostic-analyst`, or
just `energy`, `behavioral`, `diagnostic`); without one, from the question's words as the
orchestrator would, and the energy analyst when the words name no analysis. A request that
answers a question (`AgentRequest.resume`) is sent on the waiting task: the message carries its
task and context ids, so the SDK continues that task instead of starting one.

A data part stores numbers as doubles (google.protobuf.Value); decoding turns whole numbers back
into ints, which restores every typed field exactly (pydantic makes floats of float fields again)
and free-form `data` dicts up to `2 == 2.0`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from a2a.helpers.proto_helpers import get_data_parts, new_data_part, new_text_part
from a2a.types.a2a_pb2 import (
    Artifact,
    Message,
    Part,
    Role,
    StreamResponse,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from pydantic import BaseModel, ValidationError

from aether.agents.contract import (
    ANALYST_AGENTS,
    AgentEvent,
    AgentName,
    AgentRequest,
    ErrorEvent,
    FinalEvent,
    FindingsEvent,
    InputRequiredEvent,
    ProposalEvent,
    ServiceName,
    StatusEvent,
    TextDelta,
    UsageEvent,
    agent_event_adapter,
    ends_call,
    service_of,
)
from aether.agents.intent import read_intent

EVENT_MEDIA_TYPE = "application/vnd.aether.agent-event+json"
REQUEST_MEDIA_TYPE = "application/vnd.aether.agent-request+json"
ANSWER_ARTIFACT = "answer"
FINDINGS_ARTIFACT = "findings"
PROPOSAL_ARTIFACT = "proposal"
AGENT_METADATA = "agent"
RUN_ID_METADATA = "run_id"
SKILL_METADATA = "skill"

A2AEvent = TaskStatusUpdateEvent | TaskArtifactUpdateEvent


class RequestMappingError(ValueError):
    """A message this service cannot turn into an AgentRequest; the text is safe to show."""


# --- requests -------------------------------------------------------------------------------


def request_to_message(request: AgentRequest) -> Message:
    message = Message(
        message_id=str(uuid.uuid4()),
        role=Role.ROLE_USER,
        parts=[
            new_text_part(request.question, "text/plain"),
            new_data_part(request.model_dump(mode="json"), REQUEST_MEDIA_TYPE),
        ],
        metadata={RUN_ID_METADATA: request.run_id, AGENT_METADATA: request.agent.value},
    )
    if request.resume is not None:
        message.task_id = request.resume.task_id
        message.context_id = request.resume.context_id
    return message


def request_from_message(
    message: Message, service: ServiceName, request_metadata: Mapping[str, Any] | None = None
) -> AgentRequest:
    """The AgentRequest a message asks `service` for; RequestMappingError if there is none."""
    data = _tagged_data(message.parts, REQUEST_MEDIA_TYPE)
    if data is not None:
        try:
            request = AgentRequest.model_validate(_json_numbers(data))
        except ValidationError as exc:
            raise RequestMappingError(f"Invalid Aether request: {_first_error(exc)}") from None
    else:
        request = _plain_request(message, service, request_metadata or {})
    if service_of(request.agent) is not service:
        raise RequestMappingError(
            f"This is the {service.value} service; {request.agent.value} is served by "
            f"{service_of(request.agent).value}."
        )
    return request


def _plain_request(
    message: Message, service: ServiceName, request_metadata: Mapping[str, Any]
) -> AgentRequest:
    question = "\n".join(part.text for part in message.parts if part.HasField("text")).strip()
    if not question:
        raise RequestMappingError("The message has no text: send the question as a text part.")
    hints = {**request_metadata, **_struct_items(message.metadata)}
    run_id = hints.get(RUN_ID_METADATA)
    return AgentRequest(
        run_id=str(run_id) if run_id else str(uuid.uuid4()),
        agent=_pick_agent(service, question, hints),
        question=question,
    )


def _pick_agent(service: ServiceName, question: str, hints: Mapping[str, Any]) -> AgentName:
    if service is not ServiceName.DS_ANALYSTS:
        return AgentName(service.value)
    hint = hints.get(AGENT_METADATA) or hints.get(SKILL_METADATA)
    if hint:
        for agent, analyst in ANALYST_AGENTS.items():
            if str(hint) in (agent.value, analyst):
                return agent
        choices = ", ".join(agent.value for agent in ANALYST_AGENTS)
        raise RequestMappingError(f"Unknown analyst {hint!r}; use one of: {choices}.")
    suggested = read_intent(question).analysts()
    for agent, analyst in ANALYST_AGENTS.items():
        if suggested and suggested[0] == analyst:
            return agent
    return AgentName.ENERGY_ANALYST


# --- events: server side --------------------------------------------------------------------


class EventEncoder:
    """Turns one task's AgentEvents into A2A events. It remembers whether the answer artifact
    exists (the first chunk creates it, later ones append) and numbers the findings artifacts."""

    def __init__(self, task_id: str, context_id: str) -> None:
        self.task_id = task_id
        self.context_id = context_id
        self._answer_started = False
        self._findings = 0
        self._proposals = 0

    def encode(self, event: AgentEvent) -> A2AEvent:
        if isinstance(event, TextDelta):
            return self._text([event])
        if isinstance(event, FindingsEvent):
            self._findings += 1
            return self._artifact(
                Artifact(
                    artifact_id=f"{FINDINGS_ARTIFACT}-{self._findings}",
                    name=FINDINGS_ARTIFACT,
                    description=f"{len(event.findings)} findings from the {event.agent.value}",
                    parts=[_event_part(event)],
                ),
                append=False,
            )
        if isinstance(event, ProposalEvent):
            self._proposals += 1
            return self._artifact(
                Artifact(
                    artifact_id=f"{PROPOSAL_ARTIFACT}-{self._proposals}",
                    name=PROPOSAL_ARTIFACT,
                    description=f"Proposal {event.proposal.id}: {event.proposal.title}",
                    parts=[new_text_part(event.proposal.title, "text/plain"), _event_part(event)],
                ),
                append=False,
            )
        if isinstance(event, InputRequiredEvent):
            waiting = event.model_copy(
                update={"task_id": self.task_id, "context_id": self.context_id}
            )
            return self._status(TaskState.TASK_STATE_INPUT_REQUIRED, event.question, waiting)
        if isinstance(event, StatusEvent):
            return self._status(TaskState.TASK_STATE_WORKING, event.message, event)
        if isinstance(event, UsageEvent):
            text = f"{event.prompt_tokens} prompt + {event.completion_tokens} completion tokens"
            return self._status(TaskState.TASK_STATE_WORKING, text, event)
        if isinstance(event, FinalEvent):
            return self._status(TaskState.TASK_STATE_COMPLETED, event.text, event)
        return self.terminal_error(event, TaskState.TASK_STATE_FAILED)

    def encode_all(self, events: Sequence[AgentEvent]) -> list[A2AEvent]:
        """The events in order, each run of consecutive text deltas of one agent as one artifact
        update with a text part per delta: the task store saves the task once per A2A event, so
        text that is ready at once (an offline answer, tokens that arrived during a save) costs
        one save instead of one per piece, and the pieces still arrive as they were written."""
        encoded: list[A2AEvent] = []
        run: list[TextDelta] = []
        for event in events:
            if isinstance(event, TextDelta) and (not run or run[0].agent == event.agent):
                run.append(event)
                continue
            if run:
                encoded.append(self._text(run))
                run = []
            if isinstance(event, TextDelta):
                run.append(event)
            else:
                encoded.append(self.encode(event))
        if run:
            encoded.append(self._text(run))
        return encoded

    def terminal_error(self, event: ErrorEvent, state: TaskState) -> TaskStatusUpdateEvent:
        """FAILED, REJECTED or CANCELED with the error's code and message."""
        return self._status(state, event.message, event)

    def _text(self, deltas: Sequence[TextDelta]) -> TaskArtifactUpdateEvent:
        """Deltas of one agent on the answer artifact: the first creates it, later ones append."""
        append = self._answer_started
        self._answer_started = True
        return self._artifact(
            Artifact(
                artifact_id=ANSWER_ARTIFACT,
                name=ANSWER_ARTIFACT,
                parts=[new_text_part(delta.text, "text/markdown") for delta in deltas],
                metadata={AGENT_METADATA: deltas[0].agent.value},
            ),
            append=append,
        )

    def _artifact(self, artifact: Artifact, *, append: bool) -> TaskArtifactUpdateEvent:
        return TaskArtifactUpdateEvent(
            task_id=self.task_id, context_id=self.context_id, artifact=artifact, append=append
        )

    def _status(self, state: TaskState, text: str, event: BaseModel) -> TaskStatusUpdateEvent:
        parts = [new_text_part(text, "text/plain")] if text else []
        message = Message(
            message_id=str(uuid.uuid4()),
            role=Role.ROLE_AGENT,
            task_id=self.task_id,
            context_id=self.context_id,
            parts=[*parts, _event_part(event)],
        )
        status = TaskStatus(state=state, message=message)
        status.timestamp.FromDatetime(datetime.now(UTC))
        return TaskStatusUpdateEvent(
            task_id=self.task_id, context_id=self.context_id, status=status
        )


# --- events: client side --------------------------------------------------------------------

_FOREIGN_FAILURES = {
    TaskState.TASK_STATE_FAILED: ("agent_error", "failed"),
    TaskState.TASK_STATE_REJECTED: ("agent_rejected", "rejected the request"),
    TaskState.TASK_STATE_CANCELED: ("cancelled", "cancelled the task"),
    TaskState.TASK_STATE_INPUT_REQUIRED: ("agent_needs_input", "asked for input"),
    TaskState.TASK_STATE_AUTH_REQUIRED: ("agent_needs_auth", "asked for authorisation"),
}


class EventDecoder:
    """Turns the A2A stream of one call back into AgentEvents.

    Aether's events come back exactly from their data parts. A foreign agent's stream (no such
    parts) is read from its plain parts: artifact text becomes text deltas, a completed task a
    final event, a failed, rejected, cancelled or interrupted one an error event.
    """

    def __init__(self, agent: AgentName) -> None:
        self._agent = agent
        self._text: list[str] = []
        self.task_id: str | None = None
        self.context_id: str | None = None

    def decode(self, response: StreamResponse) -> list[AgentEvent]:
        if response.HasField("artifact_update"):
            self.task_id = response.artifact_update.task_id or self.task_id
            return self._artifact(response.artifact_update.artifact)
        if response.HasField("status_update"):
            self.task_id = response.status_update.task_id or self.task_id
            self.context_id = response.status_update.context_id or self.context_id
            return self._status(response.status_update.status)
        if response.HasField("task"):
            self.task_id = response.task.id
            self.context_id = response.task.context_id or self.context_id
            return self._task(response.task)
        if response.HasField("message"):
            return self._message(response.message)
        return []

    def _artifact(self, artifact: Artifact) -> list[AgentEvent]:
        event = _tagged_event(artifact.parts)
        if event is not None:
            return [event]
        texts = [part.text for part in artifact.parts if part.HasField("text") and part.text]
        agent = _agent_name(
            _struct_items(artifact.metadata).get(AGENT_METADATA, self._agent.value), self._agent
        )
        self._text.extend(texts)
        return [TextDelta(agent=agent, text=text) for text in texts]

    def _status(self, status: TaskStatus) -> list[AgentEvent]:
        event = _tagged_event(status.message.parts)
        if event is not None:
            return [event]
        text = "".join(part.text for part in status.message.parts if part.HasField("text"))
        if status.state == TaskState.TASK_STATE_COMPLETED:
            return [FinalEvent(agent=self._agent, text=text or "".join(self._text))]
        if status.state == TaskState.TASK_STATE_INPUT_REQUIRED and text:
            return [
                InputRequiredEvent(
                    agent=self._agent,
                    question=text,
                    task_id=self.task_id,
                    context_id=self.context_id,
                )
            ]
        failure = _FOREIGN_FAILURES.get(status.state)
        if failure is None:
            return []
        code, verb = failure
        message = f"The {self._agent.value} {verb}" + (f": {text}" if text else ".")
        return [ErrorEvent(agent=self._agent, code=code, message=message)]

    def _task(self, task: Task) -> list[AgentEvent]:
        """A snapshot: the stream's opening task (nothing to report) or, from an agent that does
        not stream, the finished task with everything in it."""
        if task.status.state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING):
            return []
        events: list[AgentEvent] = []
        for artifact in task.artifacts:
            events.extend(self._artifact(artifact))
        return events + self._status(task.status)

    def _message(self, message: Message) -> list[AgentEvent]:
        text = "".join(part.text for part in message.parts if part.HasField("text"))
        return [TextDelta(agent=self._agent, text=text), FinalEvent(agent=self._agent, text=text)]


def is_terminal(event: AgentEvent) -> bool:
    """The event ends the call: the task completed or failed, or it waits for input (its
    executor has returned; the task goes on when a message answers it)."""
    return ends_call(event)


# --- parts ----------------------------------------------------------------------------------


def _event_part(event: BaseModel) -> Part:
    return new_data_part(event.model_dump(mode="json"), EVENT_MEDIA_TYPE)


def _tagged_event(parts: Sequence[Part]) -> AgentEvent | None:
    data = _tagged_data(parts, EVENT_MEDIA_TYPE)
    if data is None:
        return None
    return agent_event_adapter.validate_python(_json_numbers(data))


def _tagged_data(parts: Sequence[Part], media_type: str) -> Any:
    tagged = [part for part in parts if part.media_type == media_type]
    data = get_data_parts(tagged)
    return data[0] if data else None


def _struct_items(struct: Any) -> dict[str, Any]:
    """The top level of a google.protobuf.Struct (metadata) as a dict."""
    return {key: struct[key] for key in struct.keys()}  # noqa: SIM118 - Struct is no Mapping


def _json_numbers(value: Any) -> Any:
    """Whole-number doubles back to ints, through dicts and lists."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _json_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_numbers(item) for item in value]
    return value


def _agent_name(value: object, default: AgentName) -> AgentName:
    try:
        return AgentName(str(value))
    except ValueError:
        return default


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"])
    return f"{location}: {error['msg']}" if location else str(error["msg"])
