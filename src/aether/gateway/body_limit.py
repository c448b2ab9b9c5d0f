"""Refuses request bodies over a size limit with a 413, whether or not they declare a length.

The body is read up to the limit before the app sees it (the app would read it whole anyway), so
an oversized chunked body is refused cleanly instead of surfacing as a parse error.

Before the 413 goes out, the rest of an oversized body is read and dropped (up to
`DISCARD_LIMIT_BYTES`): closing a connection with unread data makes the kernel reset it, and a
client still sending its body would then see "connection reset" instead of the 413.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aether.gateway.errors import error_body

DISCARD_LIMIT_BYTES: Final = 8 * 1024 * 1024
"""How much of an oversized body is read and dropped before refusing it; past this the
connection is closed at once (a client sending that much may see a reset)."""


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            # A client that sent `Expect: 100-continue` waits for the answer before sending.
            waiting = headers.get(b"expect", b"").lower() == b"100-continue"
            if not waiting and int(declared) <= self.max_bytes + DISCARD_LIMIT_BYTES:
                await _discard_body(receive, DISCARD_LIMIT_BYTES + self.max_bytes)
            await self._refuse(send)
            return
        buffered = await self._read_body(receive)
        if buffered is None:
            await self._refuse(send)
            return
        await self.app(scope, _replay(buffered, receive), send)

    async def _read_body(self, receive: Receive) -> Message | None:
        """The whole body as one message, or None when it is over the limit (the rest of it
        read and dropped)."""
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message  # the client left; let the app see the disconnect
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                if message.get("more_body", False):
                    await _discard_body(receive, DISCARD_LIMIT_BYTES)
                return None
            parts.append(chunk)
            if not message.get("more_body", False):
                return {"type": "http.request", "body": b"".join(parts), "more_body": False}

    async def _refuse(self, send: Send) -> None:
        body = error_body(
            413,
            f"Request body is larger than the limit of {self.max_bytes} bytes.",
            code="request_too_large",
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body.model_dump_json().encode()})


async def _discard_body(receive: Receive, limit: int) -> None:
    """Reads what is left of the body, dropping it, until its end or `limit` bytes."""
    size = 0
    while size <= limit:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        size += len(message.get("body", b""))


def _replay(first: Message, receive: Receive) -> Receive:
    """Hands the buffered body to the app once, then the real channel (for disconnects)."""
    pending: list[Message] = [first]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay
