"""Noticing that another replica cancelled a task this replica is running.

With several replicas of a service, CancelTask may reach one that does not run the task. The
a2a-sdk then records CANCELED in the shared task store and appends it to the task's event log;
the replica running the work would only notice on its next save, which a long silent step (an
analysis job in the sandbox) may not make for a long time. So while a task runs, its executor
follows the task's log on the SDK's event stream and stops the work as soon as CANCELED appears.
"""

from __future__ import annotations

from contextlib import aclosing

from a2a.server.cluster import TaskEventStream, TaskVersion
from a2a.types.a2a_pb2 import Task, TaskState, TaskStatusUpdateEvent


async def cancelled_in_log(stream: TaskEventStream, task_id: str) -> None:
    """Returns once the task's event log holds a CANCELED status (never, if it does not)."""
    async with aclosing(stream.subscribe(task_id, after=TaskVersion.MISSING)) as events:
        async for versioned in events:
            event = versioned.event
            if (
                isinstance(event, TaskStatusUpdateEvent | Task)
                and event.status.state == TaskState.TASK_STATE_CANCELED
            ):
                return
