"""Task and context ids from clients, checked before they reach the task store.

The a2a-sdk stores them in 36-character columns (`tasks.id`, `tasks.context_id`, ...). SQLite
ignores the length and PostgreSQL refuses the row with an SQL error, which the SDK would report
as an internal error carrying the SQL text. So every id a client names is checked by the request
handler first, and a bad one is an InvalidParams error naming the field: JSON-RPC -32602 on the
JSON-RPC binding, 400 INVALID_ARGUMENT on HTTP+JSON, on both protocol versions.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

from a2a.server.context import ServerCallContext
from a2a.server.events import Event
from a2a.server.request_handlers import DefaultRequestHandlerV2
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    SendMessageRequest,
    SubscribeToTaskRequest,
    Task,
)
from a2a.utils.errors import InvalidParamsError

MAX_ID_LENGTH = 36
"""The length of the SDK's id columns (a UUID in its 36-character form)."""


def check_id(field: str, value: str) -> None:
    """Raises InvalidParamsError unless `value` fits the SDK's id columns; "" means "none"."""
    if len(value) > MAX_ID_LENGTH:
        raise InvalidParamsError(
            message=f"{field} is {len(value)} characters long; at most {MAX_ID_LENGTH} are allowed"
        )
    if not value.isprintable():
        raise InvalidParamsError(
            message=f"{field} contains control characters; ids must be printable text"
        )


def check_message_ids(message: Message) -> None:
    check_id("message.taskId", message.task_id)
    check_id("message.contextId", message.context_id)
    for index, reference in enumerate(message.reference_task_ids):
        check_id(f"message.referenceTaskIds[{index}]", reference)


class IdCheckingRequestHandler(DefaultRequestHandlerV2):
    """The SDK's request handler, refusing unusable client ids before any store access.

    Every binding and protocol version (JSON-RPC, HTTP+JSON, their v0.3 layers) calls these
    methods, so one check covers them all.
    """

    async def on_message_send(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> Message | Task:
        check_message_ids(params.message)
        return await super().on_message_send(params, context)

    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        check_message_ids(params.message)
        async with aclosing(super().on_message_send_stream(params, context)) as events:
            async for event in events:
                yield event

    async def on_get_task(self, params: GetTaskRequest, context: ServerCallContext) -> Task | None:
        check_id("id", params.id)
        return await super().on_get_task(params, context)

    async def on_cancel_task(
        self, params: CancelTaskRequest, context: ServerCallContext
    ) -> Task | None:
        check_id("id", params.id)
        return await super().on_cancel_task(params, context)

    async def on_subscribe_to_task(
        self, params: SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        check_id("id", params.id)
        async with aclosing(super().on_subscribe_to_task(params, context)) as events:
            async for event in events:
                yield event

    async def on_list_tasks(
        self, params: ListTasksRequest, context: ServerCallContext
    ) -> ListTasksResponse:
        check_id("contextId", params.context_id)
        return await super().on_list_tasks(params, context)
