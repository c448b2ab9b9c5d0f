"""One chat request from acceptance to its stored answer, independent of the wire format.

The user message is committed before any agent starts; every event of the run is recorded; the
run always ends in a final state (completed, failed, cancelled) with whatever text was written.

Each run is one trace (a root span, with routing and the agents under it), its log lines carry
its run and trace ids, and it can be cancelled while it runs (`aether.gateway.cancellation`).

A request with an idempotency key (`aether.gateway.idempotency`) binds the key to its run when
the question is stored; a retry finds that run instead of starting another. If the database goes
away mid-run, the run ends with a `database_unavailable` error for the client, and its final
state is written as soon as the database is back (`FINISH_RETRY_SECONDS`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Literal

from aether.agents.contract import (
    AgentDirectory,
    AgentEvent,
    AgentName,
    AgentRequest,
    ChatTurn,
    ErrorEvent,
    FinalEvent,
    InputRequiredEvent,
    Stage,
    StatusEvent,
    TextDelta,
    UsageEvent,
    service_of,
)
from aether.agents.router import Router, RoutingDecision
from aether.gateway.approvals import ApprovalDesk, Resumption
from aether.gateway.auth import ANONYMOUS
from aether.gateway.cancellation import RunControl, RunRegistry
from aether.gateway.catalog import resolve_target
from aether.gateway.errors import (
    DATABASE_UNAVAILABLE,
    GATEWAY_STOPPING,
    GATEWAY_STOPPING_MESSAGE,
    ApiError,
)
from aether.gateway.idempotency import Duplicate, fingerprint, key_reused
from aether.gateway.openai_schema import ChatCompletionRequest, RequestMessage, Usage
from aether.gateway.token_budget import TokenBudget
from aether.llm.tokens import count_message_tokens, count_tokens
from aether.mesh.trace_context import bound_call, traced_parent
from aether.observability import metrics, tracing
from aether.store import (
    ConversationNotFoundError,
    DatabaseUnavailableError,
    FinishedTurn,
    RunStatus,
    Store,
)
from aether.store.idempotency import IdempotencyKeyTaken, KeyClaim, KeyOutcome

log = logging.getLogger(__name__)

_GATEWAY = AgentName.ARCHITECT  # routing events are reported on behalf of the architect's front
RUN_CANCELLED = "run_cancelled"
"""The code of the ErrorEvent that ends a run cancelled through the runs API."""
AGENT_UNAVAILABLE = "agent_unavailable"
"""The code of the ErrorEvent of an agent that cannot be reached (`aether.mesh.a2a_client`)."""
RETRYABLE_CODES = frozenset({AGENT_UNAVAILABLE, DATABASE_UNAVAILABLE})
FINISH_RETRY_SECONDS = 600.0
"""How long the final state of a run is retried while the database is unavailable."""
FINISH_RETRY_DELAY_SECONDS = (0.5, 5.0)
"""The first and the longest pause between two of those retries (doubling in between)."""


@dataclass
class PreparedChat:
    """A request accepted and committed: the conversation exists and holds the user message."""

    conversation_id: str
    run_id: str
    model: str
    question: str
    history: list[ChatTurn]
    requested: AgentName | None
    token_limit: int | None
    prompt_estimate: int
    caller: str = ANONYMOUS
    """Who sent it (`aether.gateway.auth.caller_identity`): the actor of approvals it answers."""
    created: int = 0
    """When the run was opened (Unix seconds): the completion's `created`, also in replays."""
    idempotent: bool = False
    """The request came with an idempotency key, which records how the run ends."""


@dataclass
class RunOutcome:
    """What the run produced, filled in while its events stream."""

    text_parts: list[str] = field(default_factory=list)
    llm_prompt_tokens: int = 0
    llm_completion_tokens: int = 0
    finish_reason: Literal["stop", "length"] = "stop"
    error: ErrorEvent | None = None
    agent_responded: asyncio.Event = field(default_factory=asyncio.Event)
    """Set at the first event from the agent that is not an error: it took the request."""

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    @property
    def retryable(self) -> bool:
        """The same request is worth sending again (its idempotency key is released for that):
        the run failed before any answer because something it needs was unreachable, or the
        replica serving it stopped (any replica still running answers it whole)."""
        if self.error is None:
            return False
        if self.error.code == GATEWAY_STOPPING:
            return True
        return self.error.code in RETRYABLE_CODES and not self.text_parts

    def usage(self, prompt_estimate: int) -> Usage:
        """LLM-reported counts where an LLM worked, our tokenizer's counts where none did."""
        prompt = self.llm_prompt_tokens or prompt_estimate
        completion = self.llm_completion_tokens or count_tokens(self.text)
        return Usage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )


class ChatService:
    def __init__(
        self,
        store: Store,
        router: Router,
        directory: AgentDirectory,
        runs: RunRegistry | None = None,
        approvals: ApprovalDesk | None = None,
    ) -> None:
        self._store = store
        self._router = router
        self._directory = directory
        self._approvals = approvals
        """Stores proposals and agents' questions, and resumes a task with the user's answer."""
        self.runs = runs or RunRegistry()
        """The runs in flight here, by id: where a cancel request finds its run."""
        self._finishing: set[asyncio.Task[None]] = set()
        """Final states waiting for the database to come back."""

    async def aclose(self) -> None:
        """Stop retrying final states (the run-lease reaper ends those runs instead)."""
        for task in self._finishing:
            task.cancel()
        if self._finishing:
            await asyncio.wait(self._finishing)

    async def prepare(
        self,
        request: ChatCompletionRequest,
        conversation_header: str | None,
        caller: str = ANONYMOUS,
        idempotency_key: str | None = None,
    ) -> PreparedChat | Duplicate:
        """Store the question and open its run; with an idempotency key already used by this
        caller, a `Duplicate` naming the first request's run instead (nothing is stored)."""
        requested = resolve_target(request.model, request.agent)
        question, history = _split_messages(request.messages)
        conversation_id = request.conversation_id or conversation_header
        claim = (
            None
            if idempotency_key is None
            else KeyClaim(caller, idempotency_key, fingerprint(request, conversation_id))
        )
        if conversation_id is not None and not history:
            history = await self._stored_history(conversation_id)
        try:
            conversation, run, _ = await self._store.turns.open_turn(
                conversation_id,
                title=_title(question),
                question=question,
                agent_requested=requested.value if requested else "auto",
                model=request.model,
                idempotency=claim,
            )
        except IdempotencyKeyTaken as taken:
            if claim is None or taken.record.fingerprint != claim.fingerprint:
                raise key_reused() from None
            return Duplicate(taken.record)
        except ConversationNotFoundError:
            raise ApiError(
                404,
                f"Conversation {conversation_id!r} does not exist.",
                param="conversation_id",
                code="conversation_not_found",
            ) from None
        return PreparedChat(
            conversation_id=conversation.id,
            run_id=run.id,
            model=request.model,
            question=question,
            history=history,
            requested=requested,
            token_limit=request.token_limit,
            prompt_estimate=count_message_tokens(
                [*history, ChatTurn(role="user", content=question)]
            ),
            caller=caller,
            created=int(run.created_at.timestamp()),
            idempotent=claim is not None,
        )

    async def execute(
        self, chat: PreparedChat, outcome: RunOutcome
    ) -> AsyncGenerator[AgentEvent, None]:
        """Streams the run's events. The run is stored in its final state before the event that
        ends it reaches the caller, so a client that reacts at once already finds it stored; a
        caller that goes away mid-run leaves it `cancelled` with the text written so far, and so
        does a cancel through the runs API, which ends the stream with a `run_cancelled` error."""
        attributes = {
            "aether.run_id": chat.run_id,
            "aether.conversation_id": chat.conversation_id,
            "aether.model": chat.model,
        }
        gauge = metrics.RUNS_IN_PROGRESS.labels(metrics.service.name)
        with (
            self.runs.track(chat.run_id, outcome.text_parts) as control,
            tracing.span("chat", "CHAIN", attributes) as span,
            bound_call(chat.run_id, traced_parent()),
        ):
            tracing.tag_trace(chat.run_id, chat.conversation_id)
            if span.recording:
                span.set_inputs({"question": chat.question, "history": len(chat.history)})
            gauge.inc()
            try:
                async with aclosing(self._execute(chat, outcome, control)) as events:
                    async for event in events:
                        yield event
            finally:
                gauge.dec()
                if span.recording:
                    span.set_outputs(outcome.text)
                    if outcome.error is not None:
                        span.fail(outcome.error.message)

    async def _execute(
        self, chat: PreparedChat, outcome: RunOutcome, control: RunControl
    ) -> AsyncGenerator[AgentEvent, None]:
        stored = False
        try:
            async with aclosing(self._run(chat, outcome)) as events:
                while True:
                    # Only the wait for the agents is interrupted by a cancel request.
                    with control.interruptible():
                        event = await anext(events, None)
                    if event is None:
                        break
                    if isinstance(event, ErrorEvent):
                        await self._finish(chat, outcome, cancelled=False)
                        stored = True
                    yield event
                    if stored:
                        return
        except asyncio.CancelledError:
            if not control.absorb():
                if not stored:
                    await asyncio.shield(self._finish(chat, outcome, cancelled=True))
                raise
            if control.stopping:
                outcome.error = _replica_stopping()
                await self._finish(chat, outcome, cancelled=False)
            else:
                outcome.error = ErrorEvent(
                    agent=_GATEWAY, code=RUN_CANCELLED, message=f"The run was {control.reason}."
                )
                await self._finish(chat, outcome, cancelled=True, reason=control.reason)
            yield outcome.error
            return
        except GeneratorExit:
            if not stored:
                await asyncio.shield(self._finish(chat, outcome, cancelled=True))
            raise
        except DatabaseUnavailableError as exc:
            log.warning("run %s stopped: %s", chat.run_id, exc)
            outcome.error = _database_lost()
            await self._finish(chat, outcome, cancelled=False)
            yield outcome.error
            return
        except Exception as exc:  # an agent bug must still end the run, not leave it running
            log.exception("run %s failed", chat.run_id)
            outcome.error = ErrorEvent(
                agent=_GATEWAY,
                code="internal_error",
                message=f"Internal error: {type(exc).__name__}",
            )
            await self._finish(chat, outcome, cancelled=False)
            yield outcome.error
            return
        if not await self._finish(chat, outcome, cancelled=False):
            # The answer is complete but not stored yet: the client must not take it as final.
            outcome.error = _database_lost()
            yield outcome.error

    async def _run(
        self, chat: PreparedChat, outcome: RunOutcome
    ) -> AsyncGenerator[AgentEvent, None]:
        resumption = await self._resumption(chat)
        decision = (
            RoutingDecision(resumption.agent, resumption.reason, 1.0)
            if resumption is not None
            else await self._decide(chat)
        )
        outcome.llm_prompt_tokens += decision.prompt_tokens
        outcome.llm_completion_tokens += decision.completion_tokens
        routing = StatusEvent(
            agent=_GATEWAY,
            stage=Stage.ROUTING,
            message=f"Routing to the {decision.agent.value}: {decision.reason} "
            f"(confidence {decision.confidence:.2f})",
            data={"target": decision.agent.value, "confidence": decision.confidence},
        )
        await self._store.runs.record_routing(
            chat.run_id,
            decision.agent.value,
            decision.reason,
            decision.confidence,
            routing.type,
            _payload(routing),
        )
        yield routing
        budget = TokenBudget(chat.token_limit)
        request = AgentRequest(
            run_id=chat.run_id,
            agent=decision.agent,
            question=chat.question,
            history=chat.history,
            resume=resumption.resume if resumption is not None else None,
            proposals=(
                await self._approvals.waiting(chat.conversation_id) if self._approvals else []
            ),
        )
        client = self._directory.client_for(service_of(decision.agent))
        async with aclosing(client.stream(request)) as events:
            async for event in events:
                if not isinstance(event, ErrorEvent):
                    outcome.agent_responded.set()
                if isinstance(event, TextDelta):
                    text, exhausted = budget.take(event.text)
                    if text:
                        outcome.text_parts.append(text)
                        yield event.model_copy(update={"text": text})
                    if exhausted:
                        outcome.finish_reason = "length"
                        return
                    continue
                if self._approvals is not None:
                    event = await self._approvals.record(
                        event, conversation_id=chat.conversation_id, run_id=chat.run_id
                    )
                await self._record(chat, event)
                self._account(outcome, budget, event)
                yield event

    @staticmethod
    def _account(outcome: RunOutcome, budget: TokenBudget, event: AgentEvent) -> None:
        if isinstance(event, UsageEvent):
            outcome.llm_prompt_tokens += event.prompt_tokens
            outcome.llm_completion_tokens += event.completion_tokens
        elif isinstance(event, ErrorEvent):
            outcome.error = event
        elif isinstance(event, FinalEvent) and not outcome.text_parts and event.text:
            outcome.text_parts.append(budget.take(event.text)[0])
        elif isinstance(event, InputRequiredEvent) and not outcome.text_parts:
            outcome.text_parts.append(budget.take(event.question)[0])

    async def _resumption(self, chat: PreparedChat) -> Resumption | None:
        """The task this message answers, with the answer applied (None: a new question)."""
        if self._approvals is None:
            return None
        return await self._approvals.resumption(
            conversation_id=chat.conversation_id,
            run_id=chat.run_id,
            message=chat.question,
            caller=chat.caller,
            requested=chat.requested,
        )

    async def _decide(self, chat: PreparedChat) -> RoutingDecision:
        with tracing.span("routing", "CHAIN", {"aether.run_id": chat.run_id}) as span:
            if chat.requested is not None:
                decision = RoutingDecision(chat.requested, "requested explicitly", 1.0)
            else:
                decision = await self._router.route(chat.question)
            if span.recording:
                span.set_outputs(
                    {
                        "agent": decision.agent.value,
                        "reason": decision.reason,
                        "confidence": decision.confidence,
                    }
                )
            return decision

    async def _record(self, chat: PreparedChat, event: AgentEvent) -> None:
        await self._store.runs.append_event(chat.run_id, event.type, _payload(event))

    async def _finish(
        self,
        chat: PreparedChat,
        outcome: RunOutcome,
        *,
        cancelled: bool,
        reason: str = "cancelled by the client",
    ) -> bool:
        """Store the run's final state; False if the database is unavailable, in which case
        it is stored in the background as soon as the database is back."""
        usage = outcome.usage(chat.prompt_estimate)
        if cancelled:
            status, message_status, error = RunStatus.CANCELLED, "partial", reason
        elif outcome.error is not None:
            status, message_status, error = RunStatus.FAILED, "failed", outcome.error.message
        else:
            status, message_status, error = RunStatus.COMPLETED, "complete", None

        text = outcome.text if outcome.text or error else None
        key = _key_outcome(outcome, status) if chat.idempotent else None

        async def finish() -> FinishedTurn:
            return await self._store.turns.finish_turn(
                chat.run_id,
                status,
                text=text,
                message_status=message_status,
                error=error,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                idempotency=key,
            )

        try:
            finished = await finish()
        except DatabaseUnavailableError as exc:
            log.warning("run %s: final state not stored yet (%s); retrying", chat.run_id, exc)
            self._finish_later(chat.run_id, finish)
            return False
        metrics.RUNS.labels(metrics.service.name, finished.run.status.value).inc()
        return True

    def _finish_later(self, run_id: str, finish: Callable[[], Awaitable[FinishedTurn]]) -> None:
        task = asyncio.create_task(_retry_finish(run_id, finish), name=f"aether-finish-{run_id}")
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    async def _stored_history(self, conversation_id: str) -> list[ChatTurn]:
        messages = await self._store.conversations.messages(conversation_id)
        return [
            ChatTurn(role=m.role, content=m.content)
            for m in messages
            if m.role in ("user", "assistant", "system") and m.content
        ]


async def _retry_finish(run_id: str, finish: Callable[[], Awaitable[FinishedTurn]]) -> None:
    """Store a run's final state once the database is back, for up to `FINISH_RETRY_SECONDS`."""
    delay, longest = FINISH_RETRY_DELAY_SECONDS
    deadline = asyncio.get_running_loop().time() + FINISH_RETRY_SECONDS
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(delay)
        delay = min(delay * 2, longest)
        try:
            finished = await finish()
        except DatabaseUnavailableError:
            continue
        except Exception:  # a run that cannot be finished is the reaper's to end
            log.exception("run %s: could not store its final state", run_id)
            return
        metrics.RUNS.labels(metrics.service.name, finished.run.status.value).inc()
        log.info("run %s: final state stored after the database came back", run_id)
        return
    log.error(
        "run %s: database unavailable for %.0f s; final state not stored",
        run_id,
        FINISH_RETRY_SECONDS,
    )


def _key_outcome(outcome: RunOutcome, status: RunStatus) -> KeyOutcome:
    """What the run's idempotency key records: how a replay answers, or that a retry runs."""
    if outcome.retryable:
        return KeyOutcome(release=True)
    if status is RunStatus.COMPLETED:
        return KeyOutcome(finish_reason=outcome.finish_reason)
    return KeyOutcome(error_code=outcome.error.code if outcome.error else RUN_CANCELLED)


def _replica_stopping() -> ErrorEvent:
    return ErrorEvent(agent=_GATEWAY, code=GATEWAY_STOPPING, message=GATEWAY_STOPPING_MESSAGE)


def _database_lost() -> ErrorEvent:
    return ErrorEvent(
        agent=_GATEWAY,
        code=DATABASE_UNAVAILABLE,
        message="The database became unavailable during the run.",
    )


def _split_messages(messages: list[RequestMessage]) -> tuple[str, list[ChatTurn]]:
    """The last user message is the question; the messages before it are the history."""
    for message in messages:
        if message.has_non_text_parts():
            raise ApiError(
                400,
                "Only text content parts are supported.",
                param="messages.content",
                code="unsupported_content",
            )
    last = messages[-1]
    if last.role != "user" or not last.text().strip():
        raise ApiError(
            400,
            "The last message must be a user message with text.",
            param="messages",
            code="invalid_messages",
        )
    history = [
        ChatTurn(role="system" if m.role == "developer" else m.role, content=m.text())
        for m in messages[:-1]
        if m.role in ("system", "developer", "user", "assistant") and m.text()
    ]
    return last.text().strip(), history


def _payload(event: AgentEvent) -> dict[str, Any]:
    """How an event is stored: its fields as JSON, the type having a column of its own."""
    return event.model_dump(mode="json", exclude={"type"})


def _title(question: str) -> str:
    line = question.strip().splitlines()[0] if question.strip() else "Conversation"
    return line if len(line) <= 80 else line[:77] + "..."
