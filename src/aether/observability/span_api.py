"""What instrumented code and the tracing backends agree on: span kinds, a span, a backend."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol

SpanKind = Literal["CHAIN", "AGENT", "TOOL", "CHAT_MODEL", "TASK"]
"""MLflow span types: routing is a CHAIN, agents AGENT, sandbox jobs TOOL, LLM calls CHAT_MODEL."""


class Span(Protocol):
    """What instrumented code may do with a span; the no-op span ignores all of it."""

    @property
    def recording(self) -> bool:
        """False for the no-op span: skip building inputs or outputs that only tracing reads."""
        ...

    def set_attributes(self, attributes: Mapping[str, Any]) -> None: ...

    def set_inputs(self, inputs: Any) -> None: ...

    def set_outputs(self, outputs: Any) -> None: ...

    def set_token_usage(self, prompt_tokens: int, completion_tokens: int) -> None: ...

    def fail(self, message: str) -> None:
        """Mark the span failed without an exception (an agent that ended with an ErrorEvent)."""
        ...


class TracingBackend(Protocol):
    def span(
        self, name: str, kind: SpanKind, attributes: Mapping[str, Any]
    ) -> AbstractContextManager[Span]: ...

    def outgoing_headers(self) -> dict[str, str]:
        """`traceparent` of the current span; empty outside any span."""
        ...

    def continue_trace(self, headers: Mapping[str, str]) -> AbstractContextManager[None]:
        """Makes the caller's span (from its `traceparent`) the parent of spans in the block."""
        ...

    def tag_trace(self, run_id: str, conversation_id: str) -> None:
        """Labels the current trace with the run (for feedback) and conversation (a session).
        Call it in the trace's root span: the labels travel as the root's attributes."""
        ...

    def log_feedback(
        self, run_id: str, *, thumbs_up: bool, comment: str | None, user: str
    ) -> str | None:
        """Logs a user's feedback on the run's trace; its trace id, or None if there is none.
        Blocking (HTTP to the tracking server): call it from a worker thread."""
        ...

    def flush(self, timeout_seconds: float) -> bool:
        """Sends every span still queued in this process; False if that took too long.
        Blocking: call it from a worker thread."""
        ...
