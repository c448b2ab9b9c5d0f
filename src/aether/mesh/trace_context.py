"""The run id and W3C trace context of the agent call in progress.

Every A2A call carries `X-Aether-Run-Id` and `traceparent`. The service that receives a call keeps
both in a context variable for the length of the work, so its log records and its own downstream
calls carry the same run and the same trace: one run is one trace across every hop, in both
topologies.

With MLflow tracing on, the traceparent is the caller's current span, so the trace id in the logs
is the MLflow trace's (`tr-<trace id>`); with it off, it is derived from the run id.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from aether.observability import tracing

RUN_ID_HEADER = "X-Aether-Run-Id"
TRACEPARENT_HEADER = "traceparent"

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_NO_TRACE = "-"


@dataclass(frozen=True)
class CallContext:
    run_id: str
    traceparent: str

    @property
    def trace_id(self) -> str:
        return self.traceparent.split("-")[1]


_current: ContextVar[CallContext | None] = ContextVar("aether_call_context", default=None)


def current_call() -> CallContext | None:
    return _current.get()


def valid_traceparent(value: str | None) -> str | None:
    """`value` if it is a version-00 traceparent with non-zero ids, else None."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return match.group(0)


def trace_id_for_run(run_id: str) -> str:
    """A trace id derived from the run id, so every hop of a run that started without trace
    context still lands in the same trace."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:32]


def new_traceparent(run_id: str) -> str:
    """A child of the current call's trace (or of the run's own trace), with a fresh span id."""
    current = _current.get()
    trace_id = current.trace_id if current is not None else trace_id_for_run(run_id)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


def outgoing_headers(run_id: str) -> dict[str, str]:
    """The headers an A2A call for `run_id` sends: with tracing on, the current span's
    traceparent (so the callee's spans become its children), else a fresh child of the run's
    trace."""
    return {RUN_ID_HEADER: run_id, TRACEPARENT_HEADER: traced_parent() or new_traceparent(run_id)}


def traced_parent() -> str | None:
    """The current span as a traceparent; None when tracing is off or no span is open."""
    return valid_traceparent(tracing.outgoing_headers().get(TRACEPARENT_HEADER))


def incoming_traceparent(headers: Mapping[str, str]) -> str | None:
    """The caller's traceparent, from request headers in any letter case."""
    for name, value in headers.items():
        if name.lower() == TRACEPARENT_HEADER:
            return valid_traceparent(value)
    return None


@contextmanager
def bound_call(run_id: str, traceparent: str | None) -> Iterator[CallContext]:
    """Makes `run_id` and its trace the current call until the block ends."""
    call = CallContext(run_id=run_id, traceparent=traceparent or new_traceparent(run_id))
    token = _current.set(call)
    try:
        yield call
    finally:
        _current.reset(token)


_installed = False


def install_log_context() -> None:
    """Adds `run_id` and `trace_id` to every log record of this process (`-` outside a call),
    so structured log handlers and format strings can show which run a line belongs to."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        call = _current.get()
        record.run_id = call.run_id if call else _NO_TRACE
        record.trace_id = call.trace_id if call else _NO_TRACE
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
