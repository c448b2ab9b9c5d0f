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

A service may run as several replicas, each at a URL of its own: calls take turns over them, and
a replica that refuses the connection (nothing was sent, so nothing can run twice) is passed over
for the next, each at most once per call. Once a request reached a replica it is never sent
again: a replica that dies mid-stream ends the stream with an error. The replicas share their
task store, so a task can be cancelled at any of them; the one holding the stream is asked first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
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


class _Replica:
    """One base URL of the service, and the SDK client for it once its card was read."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.client: Client | None = None


@dataclass
class _Call:
    """Where one call's request went: the replica that holds its stream and task."""

    replica: _Replica | None = None


class A2AAgentClient:
    """Calls the agents of one A2A service, at one or several replicas. Safe to share between
    concurrent calls."""

    def __init__(
        self,
        base_urls: str | Sequence[str],
        token: str | None,
        timeout: float,
        *,
        connect_retries: int = 2,
        retry_delay: float = RETRY_DELAY_SECONDS,
    ) -> None:
        """`timeout` bounds every wait, including the silence between two streamed events;
        `connect_retries` is how often a refused connection to a single URL is retried before
        the call starts (several replicas are instead tried once each)."""
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        if not urls:
            raise ValueError("an A2A client needs at least one base URL")
        self._replicas = [_Replica(url) for url in urls]
        self._turn = 0
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
        self._cancelling: set[asyncio.Task[None]] = set()

    @property
    def base_urls(self) -> list[str]:
        return [replica.base_url for replica in self._replicas]

    async def aclose(self) -> None:
        if self._cancelling:
            await asyncio.wait(self._cancelling, timeout=CANCEL_TIMEOUT_SECONDS)
        await self._http.aclose()

    async def stream(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        decoder = EventDecoder(request.agent)
        call = _Call()
        remote_end = False
        outcome, started = "cancelled", time.perf_counter()
        try:
            async with aclosing(self._events(request, decoder, call)) as events:
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
                await self._cancel_quietly(decoder.task_id, request.run_id, call.replica)

    async def _events(
        self, request: AgentRequest, decoder: EventDecoder, call: _Call
    ) -> AsyncGenerator[tuple[AgentEvent, bool], None]:
        """(event, came from the service) pairs; the last one is always terminal."""
        message = SendMessageRequest(message=request_to_message(request))
        attempts = self._attempts()
        for attempt, replica in enumerate(attempts):
            received = card_read = False
            try:
                client = await self._connected(replica)
                card_read = True
                call.replica = replica
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
                nothing_sent = _refused(exc) or (not card_read and _network(exc))
                if not received and nothing_sent and attempt + 1 < len(attempts):
                    log.info(
                        "%s refused the connection (%s); retry %d of %d at %s",
                        replica.base_url,
                        exc,
                        attempt + 1,
                        len(attempts) - 1,
                        attempts[attempt + 1].base_url,
                    )
                    await asyncio.sleep(self._retry_delay * 2**attempt)
                    continue
                log.warning(
                    "A2A call to %s for run %s failed: %r", replica.base_url, request.run_id, exc
                )
                yield self._mapped(request.agent, exc, received), False
                return

    def _attempts(self) -> list[_Replica]:
        """Where this call may go, in order: the replicas from the next one in turn, each once;
        a single URL (perhaps a name that spreads over replicas) `connect_retries` more times."""
        start = self._turn % len(self._replicas)
        self._turn += 1
        ring = self._replicas[start:] + self._replicas[:start]
        return ring * (self._connect_retries + 1) if len(ring) == 1 else ring

    async def _connected(self, replica: _Replica) -> Client:
        """The SDK client of `replica`, created from its card on first use. Reading the card
        sends nothing of the work, so a failure here is safe to try elsewhere."""
        if replica.client is None:
            card = await A2ACardResolver(self._http, replica.base_url).get_agent_card()
            replica.client = self._factory.create(self._pinned(card, replica.base_url))
        return replica.client

    def _pinned(self, card: AgentCard, base_url: str) -> AgentCard:
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
                url=base_url,
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

    async def _cancel_quietly(self, task_id: str, run_id: str, holder: _Replica | None) -> None:
        """Sends CancelTask even when the caller is being torn down: an anyio cancel scope (an
        SSE response whose client left) cancels every await, so the request runs shielded in a
        task of its own, which this client keeps until it is done."""
        if holder is None:
            return
        cancel = asyncio.ensure_future(self._cancel(holder, task_id, run_id))
        self._cancelling.add(cancel)
        cancel.add_done_callback(self._cancelling.discard)
        await asyncio.shield(cancel)

    async def _cancel(self, holder: _Replica, task_id: str, run_id: str) -> None:
        """At the replica holding the task; if it refuses (it died), at the others in turn,
        which share its task store."""
        context = ClientCallContext(service_parameters=outgoing_headers(run_id))
        others = [replica for replica in self._replicas if replica is not holder]
        for replica in [holder, *others]:
            try:
                client = await asyncio.wait_for(self._connected(replica), CANCEL_TIMEOUT_SECONDS)
                await asyncio.wait_for(
                    client.cancel_task(CancelTaskRequest(id=task_id), context=context),
                    CANCEL_TIMEOUT_SECONDS,
                )
                log.info("cancelled task %s at %s (run %s)", task_id, replica.base_url, run_id)
                return
            except (A2AError, ValidationError, httpx.HTTPError, TimeoutError) as exc:
                log.info("task %s at %s was not cancelled: %r", task_id, replica.base_url, exc)
                if not (_refused(exc) or _network(exc)):
                    return


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
    return isinstance(exc, httpx.RequestError) or isinstance(exc.__cause__, httpx.RequestError)


def _refused(exc: Exception) -> bool:
    """Nothing reached the service, so sending again cannot run the work twice."""
    refusals = httpx.ConnectError | httpx.ConnectTimeout
    return isinstance(exc, refusals) or isinstance(exc.__cause__, refusals)


def _http_status(exc: Exception) -> int | None:
    if isinstance(exc, AgentCardResolutionError) and exc.status_code is not None:
        return exc.status_code
    cause = exc.__cause__
    if isinstance(cause, httpx.HTTPStatusError):
        return cause.response.status_code
    return None
