"""The a2a-sdk AgentExecutor that runs one of our agents for an A2A task.

The agent streams AgentEvents; each is mapped to its A2A event and published on the task's event
queue, which the SDK persists in the task store and streams to every subscriber. The SDK saves
the whole task once per A2A event, so the agent runs ahead in a task of its own (the pump) and
the events it produced meanwhile are published together: consecutive text deltas become one
artifact update (a text part each). Nothing waits for a batch to fill: an event that arrives
alone goes out alone, at once. CancelTask cancels the work, which cancels the pump: that raises
CancelledError inside the agent (the sandbox runner kills the analysis job on it), and only once
the agent has really stopped is the task marked CANCELED. A CancelTask served by another replica
reaches the work through the task's event log (`a2a_remote_cancel`) and stops it the same way.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing

from a2a.helpers.proto_helpers import new_task
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.cluster import TaskEventStream
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import TaskState

from aether.agents.contract import (
    Agent,
    AgentEvent,
    AgentName,
    AgentRequest,
    ErrorEvent,
    ServiceName,
)
from aether.mesh.a2a_mapping import (
    EventEncoder,
    RequestMappingError,
    is_terminal,
    request_from_message,
)
from aether.mesh.a2a_remote_cancel import cancelled_in_log
from aether.mesh.inprocess import InProcessAgentClient
from aether.mesh.trace_context import bound_call, incoming_traceparent
from aether.observability import metrics, tracing

log = logging.getLogger(__name__)


class _Running:
    """The agent work of one task, and the signal that its cancellation has been published."""

    def __init__(self, agent: AgentName, work: asyncio.Task[None]) -> None:
        self.agent = agent
        self.work = work
        self.cancelling = False
        self.cancel_published = asyncio.Event()


class MeshAgentExecutor(AgentExecutor):
    def __init__(
        self, service: ServiceName, agent: Agent, events: TaskEventStream | None = None
    ) -> None:
        """`events`: the tasks' shared event log, followed to notice cancels by other replicas."""
        self._service = service
        self._client = InProcessAgentClient(agent)
        self._events = events
        self._running: dict[str, _Running] = {}

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id, context_id, message = context.task_id, context.context_id, context.message
        if task_id is None or context_id is None or message is None:
            raise RequestMappingError("A2A request without a message")
        if context.current_task is None:
            await event_queue.enqueue_event(
                new_task(task_id, context_id, TaskState.TASK_STATE_SUBMITTED, history=[message])
            )
        encoder = EventEncoder(task_id, context_id)
        try:
            request = request_from_message(message, self._service, context.metadata)
        except RequestMappingError as exc:
            log.warning("%s rejected task %s: %s", self._service.value, task_id, exc)
            rejection = ErrorEvent(
                agent=self._default_agent, code="invalid_request", message=str(exc)
            )
            await event_queue.enqueue_event(
                encoder.terminal_error(rejection, TaskState.TASK_STATE_REJECTED)
            )
            return
        headers = context.call_context.state.get("headers", {})
        # The agent's spans hang under the caller's span, in the caller's trace.
        with (
            tracing.continue_trace(headers),
            bound_call(request.run_id, incoming_traceparent(headers)) as call,
        ):
            log.info(
                "%s task %s: run %s, agent %s, traceparent %s",
                self._service.value,
                task_id,
                call.run_id,
                request.agent.value,
                call.traceparent,
            )
            outcome = "cancelled"
            try:
                await self._run(task_id, context_id, request, encoder, event_queue)
                outcome = "completed"
            except Exception:
                outcome = "failed"
                raise
            finally:
                served = metrics.A2A_TASKS.labels(
                    metrics.service.name, request.agent.value, outcome
                )
                served.inc()

    async def _run(
        self,
        task_id: str,
        context_id: str,
        request: AgentRequest,
        encoder: EventEncoder,
        queue: EventQueue,
    ) -> None:
        running = _Running(
            request.agent, asyncio.create_task(self._publish(request, encoder, queue))
        )
        self._running[task_id] = running
        watch = None
        if self._events is not None:
            watch = asyncio.create_task(
                self._stop_if_cancelled_elsewhere(self._events, task_id, context_id, queue)
            )
        try:
            await running.work
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the SDK stops this execution; the work is stopped below
            # cancel() stopped the work: stay until it has published CANCELED, so the
            # subscribers see the terminal state before their stream ends.
            await running.cancel_published.wait()
        finally:
            if watch is not None:
                watch.cancel()
                await asyncio.wait({watch})
            if not running.work.done():
                # The SDK cancelled this execution without asking the executor (another
                # replica's cancel, seen on a save): the agent must still really stop.
                running.work.cancel()
                await asyncio.wait({running.work})
            self._running.pop(task_id, None)

    async def _stop_if_cancelled_elsewhere(
        self, events: TaskEventStream, task_id: str, context_id: str, queue: EventQueue
    ) -> None:
        try:
            await cancelled_in_log(events, task_id)
        except Exception:  # the SDK's own check on the next save still applies
            log.warning("cannot follow the event log of task %s", task_id, exc_info=True)
            return
        log.info("%s task %s was cancelled by another replica", self._service.value, task_id)
        await self._cancel(task_id, context_id, queue)

    async def _publish(
        self, request: AgentRequest, encoder: EventEncoder, queue: EventQueue
    ) -> None:
        ready: asyncio.Queue[AgentEvent | None] = asyncio.Queue()
        pump = asyncio.create_task(self._pump(request, ready))
        try:
            while True:
                batch = [await ready.get()]
                while not ready.empty():
                    batch.append(ready.get_nowait())
                events = [event for event in batch if event is not None]
                for a2a_event in encoder.encode_all(events):
                    await queue.enqueue_event(a2a_event)
                ended = next((event for event in events if is_terminal(event)), None)
                if ended is not None:
                    log.info(
                        "task %s (run %s) ended: %s", encoder.task_id, request.run_id, ended.type
                    )
                    return
                if None in batch:  # the client guarantees a terminal event; never wait forever
                    return
        finally:
            if not pump.done():
                pump.cancel()
            await asyncio.wait({pump})  # the agent has stopped (its sandbox job is gone)

    async def _pump(self, request: AgentRequest, ready: asyncio.Queue[AgentEvent | None]) -> None:
        """Runs the agent, handing over each event as it comes; None marks the end."""
        try:
            async with aclosing(self._client.stream(request)) as events:
                async for event in events:
                    ready.put_nowait(event)
                    if is_terminal(event):
                        return
        finally:
            ready.put_nowait(None)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.task_id is not None and context.context_id is not None:
            await self._cancel(context.task_id, context.context_id, event_queue)

    async def _cancel(self, task_id: str, context_id: str, event_queue: EventQueue) -> None:
        running = self._running.get(task_id)
        if running is not None:
            if running.work.done() and not running.work.cancelled():
                return  # the agent already published its terminal event
            if running.cancelling:  # a cancel from this replica and one from another
                await running.cancel_published.wait()
                return
            running.cancelling = True
            running.work.cancel()
            await asyncio.wait({running.work})
        log.info("%s task %s cancelled", self._service.value, task_id)
        agent = running.agent if running is not None else self._default_agent
        cancelled = ErrorEvent(agent=agent, code="cancelled", message="The task was cancelled.")
        await event_queue.enqueue_event(
            EventEncoder(task_id, context_id).terminal_error(
                cancelled, TaskState.TASK_STATE_CANCELED
            )
        )
        if running is not None:
            running.cancel_published.set()

    @property
    def _default_agent(self) -> AgentName:
        """Who reports errors that happen before an agent was chosen (analysts: the energy one)."""
        if self._service is ServiceName.DS_ANALYSTS:
            return AgentName.ENERGY_ANALYST
        return AgentName(self._service.value)
