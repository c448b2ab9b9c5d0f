"""A client of Home Assistant's WebSocket API, for the long-term statistics that REST lacks.

The protocol (developers.home-assistant.io/docs/api/websocket): the server opens with
`auth_required`; the client answers `{"type": "auth", "access_token": ...}`; the server says
`auth_ok` or `auth_invalid` (and closes). Each command then carries an `id` that increases, and
its answer is `{"id", "type": "result", "success", "result" | "error": {code, message}}`.

One connection per use (`async with`): statistics are read rarely, and a connection held open
across analyses would need reconnect logic for no gain.
"""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import Any, Final, Self

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from aether.data.errors import (
    BAD_RESPONSE,
    TIMEOUT,
    UNAUTHORIZED,
    UNREACHABLE,
    UPSTREAM_ERROR,
    DataSourceError,
)

WEBSOCKET_PATH: Final = "/api/websocket"
MAX_MESSAGE_BYTES: Final = 256 * 1024 * 1024
"""A month of hourly statistics for a batch of entities is a few MB; HA sends it in one frame."""


def websocket_url(base_url: str) -> str:
    """`http://host:8123` -> `ws://host:8123/api/websocket` (https -> wss)."""
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base.removeprefix("https://") + WEBSOCKET_PATH
    return "ws://" + base.removeprefix("http://") + WEBSOCKET_PATH


class HomeAssistantWebSocket:
    """An authenticated WebSocket session; `command` sends one command and returns its result."""

    def __init__(self, base_url: str, token: str, timeout_seconds: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._url = websocket_url(base_url)
        self._token = token
        self._timeout = timeout_seconds
        self._connection: ClientConnection | None = None
        self._next_id = 1

    async def __aenter__(self) -> Self:
        try:
            self._connection = await self._connect()
            await self._authenticate(self._connection)
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _connect(self) -> ClientConnection:
        try:
            async with asyncio.timeout(self._timeout):
                return await connect(
                    self._url, max_size=MAX_MESSAGE_BYTES, open_timeout=None, compression=None
                )
        except InvalidStatus as exc:
            status = exc.response.status_code
            code = UNAUTHORIZED if status in (401, 403) else UPSTREAM_ERROR
            raise self._error(code, f"the handshake failed with HTTP {status}") from exc
        except TimeoutError as exc:
            raise DataSourceError(
                TIMEOUT,
                f"Home Assistant at {self.base_url} did not open its WebSocket API within "
                f"{self._timeout:g} s (HA_TIMEOUT_SECONDS).",
            ) from exc
        except (OSError, InvalidHandshake) as exc:
            raise DataSourceError(
                UNREACHABLE,
                f"Cannot reach Home Assistant's WebSocket API at {self._url} "
                f"({type(exc).__name__}: {exc}). Check HA_URL and that Home Assistant is running.",
            ) from exc

    async def _authenticate(self, connection: ClientConnection) -> None:
        hello = await self._receive(connection, "the greeting")
        if hello.get("type") != "auth_required":
            raise self._error(BAD_RESPONSE, f"expected auth_required, got {hello.get('type')!r}")
        await connection.send(json.dumps({"type": "auth", "access_token": self._token}))
        answer = await self._receive(connection, "authentication")
        if answer.get("type") == "auth_invalid":
            raise DataSourceError(
                UNAUTHORIZED,
                f"Home Assistant at {self.base_url} refused the access token on its WebSocket "
                f"API ({answer.get('message', 'auth_invalid')}). Check HA_TOKEN.",
            )
        if answer.get("type") != "auth_ok":
            raise self._error(BAD_RESPONSE, f"expected auth_ok, got {answer.get('type')!r}")

    async def command(self, command_type: str, **fields: Any) -> Any:
        """Send `{"id", "type": command_type, **fields}` and return its `result`."""
        if self._connection is None:
            raise RuntimeError("use HomeAssistantWebSocket in `async with`")
        message_id = self._next_id
        self._next_id += 1
        try:
            await self._connection.send(
                json.dumps({"id": message_id, "type": command_type, **fields})
            )
        except ConnectionClosed as exc:
            raise self._error(UNREACHABLE, f"the connection closed ({exc})") from exc
        while True:
            answer = await self._receive(self._connection, command_type)
            if answer.get("id") == message_id and answer.get("type") == "result":
                break
        if not answer.get("success"):
            error = answer.get("error") or {}
            raise self._error(
                UPSTREAM_ERROR,
                f"{command_type} failed: {error.get('code', 'error')}: {error.get('message', '')}",
            )
        return answer.get("result")

    async def _receive(self, connection: ClientConnection, what: str) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self._timeout):
                raw = await connection.recv()
        except TimeoutError as exc:
            raise DataSourceError(
                TIMEOUT,
                f"Home Assistant at {self.base_url} did not answer {what} on its WebSocket API "
                f"within {self._timeout:g} s (HA_TIMEOUT_SECONDS).",
            ) from exc
        except ConnectionClosed as exc:
            raise self._error(UNREACHABLE, f"the connection closed during {what} ({exc})") from exc
        try:
            message = json.loads(raw)
        except ValueError as exc:
            raise self._error(BAD_RESPONSE, f"{what}: not JSON") from exc
        if not isinstance(message, dict):
            raise self._error(BAD_RESPONSE, f"{what}: not a JSON object")
        return message

    def _error(self, code: str, detail: str) -> DataSourceError:
        return DataSourceError(
            code, f"Home Assistant's WebSocket API at {self.base_url}: {detail}."
        )
