"""One chat request from acceptance to its stored answer, independent of the wire format.

The user message is committed before any agent starts; every event of the run is recorded; the
run always ends in a final state (completed, failed, cancelled) with whatever text was written.

Each run is one trace (a root span, with routing and the agents under it), its log lines carry
its run and trace ids, and it can be cancelled while it runs (`aether.gateway.cancellation`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
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
from aether.gateway.errors import ApiError
from aether.gateway.openai_schema import ChatCompletionRequest, RequestMessage, Usage
from aether.gateway.token_budget import TokenBudget
from aether.llm.tokens import count_message_tokens, count_tokens
from aether.mesh.trace_context import bound_call, traced_parent
from aether.observability import metrics, tracing
from aether.store import ConversationNotFoundError, Store

log = logging.getLogger(__name__)

_GATEWAY = AgentName.ARCHITECT  # routing events are reported on behalf of the architect's front
RUN_CANCELLED = "run_cancelled"
"""The code of the ErrorEvent that ends a run cancelled through the runs API."""


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


@dataclass
class RunOutcome:
    """What the run produced, filled in while its events stream."""

    text_parts: list[str] = field(default_factory=list)
    llm_prompt_tokens: int = 0
    llm_completion_tokens: int = 0
    finish_reason: Literal["stop", "length"] = "stop"
    error: ErrorEvent | None = None

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

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

    async def prepare(
        self,
        request: ChatCompletionRequest,
        conversation_header: str | None,
        caller: str = ANONYMOUS,
    ) -> PreparedChat:
        requested = resolve_target(request.model, request.agent)
        question, history = _split_messages(request.messages)
        conversation_id = request.conversation_id or conversation_header
        if conversation_id is not None and not history:
            history = await self._stored_history(conversation_id)
        try:
            conversation, run, _ = await self._store.turns.open_turn(
                conversation_id,
                title=_title(question),
                question=question,
                agent_requested=requested.value if requested else "auto",
                model=request.model,
            )
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
            self.runs.track(chat.run_id) as control,
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
        await self._finish(chat, outcome, cancelled=False)

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
    ) -> None:
        usage = outcome.usage(chat.prompt_estimate)
        if cancelled:
            status, message_status, error = "cancelled", "partial", reason
        elif outcome.error is not None:
            status, message_status, error = "failed", "failed", outcome.error.message
        else:
            status, message_status, error = "completed", "complete", None
        finished = await self._store.turns.finish_turn(
            chat.run_id,
            status,
            text=outcome.text if outcome.text or error else None,
            message_status=message_status,
            error=error,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )
        metrics.RUNS.labels(metrics.service.name, finished.run.status.value).inc()

    async def _stored_history(self, conversation_id: str) -> list[ChatTurn]:
        messages = await self._store.conversations.messages(conversation_id)
        return [
            ChatTurn(role=m.role, content=m.content)
            for m in messages
            if m.role in ("user", "assistant", "system") and m.content
        ]


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
