"""The A2A implementation of AgentClient: the same stream of AgentEvents, from another process.

It resolves the service's card with the SDK's card resolver, creates the SDK client with its
client factory, and streams the call over JSON-RPC + SSE, sending the `A2A-Version` header, the
Bearer credential, the run id and a W3C `traceparent` with every request (with tracing on, the
caller's current span: the callee's spans become its children). Whatever goes wrong
(refused connection, timeout, JSON-RPC error, a service that dies mid-stream, a stream that ends
without a result) ends the stream with an ErrorEvent, never with an exception or a hang.

The card advertises public URLs; inside the mesh the call goes to the URL this client was
configured with (e.g. `http://architect:8001` in compose), so a card's public address never has
to be reachable from the other services.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Final, cast

import httpx
from a2a.client import (
    A2ACardResolver,
    A2AClientError,
    A2AClientTimeoutError,
    AgentCardResolutionError,
    Client,
    ClientCallContext,
    ClientConfig,
    ClientFactory,
)
from a2a.types.a2a_pb2 import (
    AgentCard,
    AgentInterface,
    CancelTaskRequest,
    SendMessageRequest,
    StreamResponse,
)
from a2a.utils.constants import PROTOCOL_VERSION_1_0, VERSION_HEADER, TransportProtocol
from a2a.utils.errors import A2AError
from pydantic import ValidationError

from aether.agents.contract import (
    AgentEvent,
    AgentName,
    AgentRequest,
    ErrorEvent,
    FinalEvent,
    InputRequiredEvent,
    service_of,
)
from aether.mesh.a2a_mapping import EventDecoder, is_terminal, request_to_message
from aether.mesh.trace_context import outgoing_headers
from aether.observability import metrics

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS: Final = 5.0
CANCEL_TIMEOUT_SECONDS: Final = 3.0
RETRY_DELAY_SECONDS: Final = 0.25


class A2AAgentClient:
    """Calls the agents of one A2A service. Safe to share between concurrent calls."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        timeout: float,
        *,
        connect_retries: int = 2,
        retry_delay: float = RETRY_DELAY_SECONDS,
    ) -> None:
        """`timeout` bounds every wait, including the silence between two streamed events;
        `connect_retries` is how often a refused connection is retried before the call starts."""
        self.base_url = base_url.rstrip("/") + "/"
        self._timeout = timeout
        self._connect_retries = connect_retries
        self._retry_delay = retry_delay
        headers = {VERSION_HEADER: PROTOCOL_VERSION_1_0}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS)),
        )
        self._factory = ClientFactory(
            ClientConfig(
                streaming=True,
                httpx_client=self._http,
                supported_protocol_bindings=[TransportProtocol.JSONRPC],
            )
        )
        self._client: Client | None = None
        self._cancelling: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        if self._cancelling:
            await asyncio.wait(self._cancelling, timeout=CANCEL_TIMEOUT_SECONDS)
        await self._http.aclose()

    async def stream(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        decoder = EventDecoder(request.agent)
        remote_end = False
        outcome, started = "cancelled", time.perf_counter()
        try:
            async with aclosing(self._events(request, decoder)) as events:
                async for event, remote in events:
                    remote_end = remote and is_terminal(event)
                    if is_terminal(event):
                        outcome = _outcome(event, remote)
                    yield event
                    if is_terminal(event):
                        return
        finally:
            _count(service_of(request.agent).value, outcome, time.perf_counter() - started)
            if not remote_end and decoder.task_id is not None:
                # The caller stopped listening, or the stream broke: do not leave the remote
                # task (and its analysis jobs) running for nobody.
                await self._cancel_quietly(decoder.task_id, request.run_id)

    async def _events(
        self, request: AgentRequest, decoder: EventDecoder
    ) -> AsyncGenerator[tuple[AgentEvent, bool], None]:
        """(event, came from the service) pairs; the last one is always terminal."""
        message = SendMessageRequest(message=request_to_message(request))
        for attempt in range(self._connect_retries + 1):
            received = False
            try:
                client = await self._connected()
                context = ClientCallContext(service_parameters=outgoing_headers(request.run_id))
                # Declared an AsyncIterator, it is an async generator: closing it ends the SSE
                # connection together with the call.
                responses = cast(
                    AsyncGenerator[StreamResponse, None],
                    client.send_message(message, context=context),
                )
                async with aclosing(responses):
                    async for response in responses:
                        received = True
                        for event in decoder.decode(response):
                            yield event, True
                            if is_terminal(event):
                                return
                yield (
                    _failure(request.agent, "agent_unavailable", "ended without an answer"),
                    False,
                )
                return
            except (A2AError, ValidationError, httpx.HTTPError) as exc:
                if not received and attempt < self._connect_retries and _refused(exc):
                    log.info(
                        "%s refused the connection (%s); retry %d of %d",
                        self.base_url,
                        exc,
                        attempt + 1,
                        self._connect_retries,
                    )
                    await asyncio.sleep(self._retry_delay * 2**attempt)
                    continue
                log.warning(
                    "A2A call to %s for run %s failed: %r", self.base_url, request.run_id, exc
                )
                yield self._mapped(request.agent, exc, received), False
                return

    async def _connected(self) -> Client:
        """The SDK client, created from the service's card on first use."""
        if self._client is None:
            card = await A2ACardResolver(self._http, self.base_url).get_agent_card()
            self._client = self._factory.create(self._pinned(card))
        return self._client

    def _pinned(self, card: AgentCard) -> AgentCard:
        """The card with its JSON-RPC 1.0 interface moved to the configured URL."""
        interfaces = [
            interface
            for interface in card.supported_interfaces
            if interface.protocol_binding == TransportProtocol.JSONRPC
            and interface.protocol_version.startswith(PROTOCOL_VERSION_1_0)
        ]
        if not interfaces:
            raise A2AClientError(f"{card.name} offers no JSON-RPC interface for A2A 1.0")
        pinned = AgentCard()
        pinned.CopyFrom(card)
        del pinned.supported_interfaces[:]
        pinned.supported_interfaces.append(
            AgentInterface(
                url=self.base_url,
                protocol_binding=TransportProtocol.JSONRPC,
                protocol_version=interfaces[0].protocol_version,
                tenant=interfaces[0].tenant,
            )
        )
        return pinned

    def _mapped(self, agent: AgentName, exc: Exception, received: bool) -> ErrorEvent:
        status = _http_status(exc)
        if status in (401, 403):
            return _failure(agent, "agent_unauthorized", f"refused our credential (HTTP {status})")
        if isinstance(exc, A2AClientTimeoutError):
            return _failure(agent, "agent_timeout", f"sent nothing for {self._timeout:g} s")
        if isinstance(exc, AgentCardResolutionError) and not _network(exc):
            return _failure(agent, "agent_unavailable", "has no readable agent card")
        if isinstance(exc, A2AClientError | httpx.HTTPError):
            what = "stopped answering mid-stream" if received else "is unreachable"
            return _failure(agent, "agent_unavailable", what)
        if isinstance(exc, ValidationError):
            return _failure(agent, "agent_error", "sent an event Aether cannot read")
        message = exc.message if isinstance(exc, A2AError) else str(exc)
        return _failure(agent, "agent_error", f"answered with an A2A error: {message}")

    async def _cancel_quietly(self, task_id: str, run_id: str) -> None:
        """Sends CancelTask even when the caller is being torn down: an anyio cancel scope (an
        SSE response whose client left) cancels every await, so the request runs shielded in a
        task of its own, which this client keeps until it is done."""
        if self._client is None:
            return
        cancel = asyncio.ensure_future(self._cancel(self._client, task_id, run_id))
        self._cancelling.add(cancel)
        cancel.add_done_callback(self._cancelling.discard)
        await asyncio.shield(cancel)

    async def _cancel(self, client: Client, task_id: str, run_id: str) -> None:
        context = ClientCallContext(service_parameters=outgoing_headers(run_id))
        try:
            await asyncio.wait_for(
                client.cancel_task(CancelTaskRequest(id=task_id), context=context),
                CANCEL_TIMEOUT_SECONDS,
            )
            log.info("cancelled task %s at %s (run %s)", task_id, self.base_url, run_id)
        except (A2AError, httpx.HTTPError, TimeoutError) as exc:
            log.info("task %s at %s was not cancelled: %r", task_id, self.base_url, exc)


def _outcome(terminal: AgentEvent, remote: bool) -> str:
    """completed, input_required (the task waits for the user), failed (the agent answered with
    an error) or unavailable (the hop broke)."""
    if isinstance(terminal, FinalEvent):
        return "completed"
    if isinstance(terminal, InputRequiredEvent):
        return "input_required"
    return "failed" if remote else "unavailable"


def _count(target: str, outcome: str, seconds: float) -> None:
    service = metrics.service.name
    metrics.A2A_CALLS.labels(service, target, outcome).inc()
    metrics.A2A_CALL_LATENCY.labels(service, target).observe(seconds)


def _failure(agent: AgentName, code: str, what: str) -> ErrorEvent:
    """Safe to show a user: it names the agent, not the internal address (that goes to the log)."""
    return ErrorEvent(agent=agent, code=code, message=f"The {agent.value} {what}.")


def _network(exc: Exception) -> bool:
    return isinstance(exc.__cause__, httpx.RequestError)


def _refused(exc: Exception) -> bool:
    """Nothing reached the service, so sending again cannot run the work twice."""
    return isinstance(exc.__cause__, httpx.ConnectError | httpx.ConnectTimeout)


def _http_status(exc: Exception) -> int | None:
    if isinstance(exc, AgentCardResolutionError) and exc.status_code is not None:
        return exc.status_code
    cause = exc.__cause__
    if isinstance(cause, httpx.HTTPStatusError):
        return cause.response.status_code
    return None
