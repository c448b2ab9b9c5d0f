"""Tracing: one MLflow trace per chat request, across every service; off unless configured.

Every process calls `configure_tracing(settings)` at startup. Without `MLFLOW_TRACKING_URI` nothing
else happens: neither mlflow nor OpenTelemetry is imported, `span()` returns one shared no-op
object and the header helpers return nothing, so instrumented code costs a function call per
span. With it, the MLflow backend (`aether.observability.mlflow_tracing`) is loaded and every span
becomes an OpenTelemetry span in MLflow's conventions, sent to the tracking server over OTLP.

Spans are parented through the current context: a span opened while another is open in the same
task is its child. Across services the A2A client sends the current span as W3C `traceparent`
(`outgoing_headers`) and the callee continues it (`continue_trace`) around the agent's work, so the
callee's spans hang under the caller's in the same trace.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any, Final

from aether.config import Settings
from aether.observability.span_api import Span, SpanKind, TracingBackend

__all__ = ["Span", "SpanKind", "TracingBackend"]

ACTIVATION_WAIT_SECONDS: Final = 10.0
"""How long startup waits for the MLflow server before going on with tracing still pending."""
ACTIVATION_RETRY_SECONDS: Final = 5.0
FLUSH_TIMEOUT_SECONDS: Final = 10.0
"""How long a stopping service waits for its last spans to reach an answering MLflow server."""


log = logging.getLogger(__name__)


class _NoopSpan:
    """Stateless, so one instance serves every span when tracing is off."""

    recording = False

    def __enter__(self) -> _NoopSpan:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        return None

    def set_inputs(self, inputs: Any) -> None:
        return None

    def set_outputs(self, outputs: Any) -> None:
        return None

    def set_token_usage(self, prompt_tokens: int, completion_tokens: int) -> None:
        return None

    def fail(self, message: str) -> None:
        return None


NOOP_SPAN: Final = _NoopSpan()
_NO_HEADERS: Final[Mapping[str, str]] = {}


class _State:
    """The process's tracing backend; None while tracing is off or not yet active."""

    backend: TracingBackend | None = None
    service: str = "aether"
    configured_uri: str | None = None


_state = _State()


def span(
    name: str, kind: SpanKind, attributes: Mapping[str, Any] | None = None
) -> AbstractContextManager[Span]:
    """A child of the current span (or a new trace's root), ended when the block exits; an
    exception leaving the block marks it failed."""
    backend = _state.backend
    if backend is None:
        return NOOP_SPAN
    return backend.span(name, kind, attributes or _NO_HEADERS)


def enabled() -> bool:
    return _state.backend is not None


def outgoing_headers() -> Mapping[str, str]:
    """The trace headers an outgoing call carries: the current span's `traceparent`."""
    backend = _state.backend
    return _NO_HEADERS if backend is None else backend.outgoing_headers()


@contextmanager
def continue_trace(headers: Mapping[str, str]) -> Iterator[None]:
    """Spans opened in the block are children of the caller's span named in `headers`."""
    backend = _state.backend
    if backend is None or not any(name.lower() == "traceparent" for name in headers):
        yield
        return
    with backend.continue_trace(headers):
        yield


def tag_trace(run_id: str, conversation_id: str) -> None:
    backend = _state.backend
    if backend is not None:
        backend.tag_trace(run_id, conversation_id)


def log_feedback(run_id: str, *, thumbs_up: bool, comment: str | None, user: str) -> str | None:
    """See `TracingBackend.log_feedback`; None when tracing is off."""
    backend = _state.backend
    if backend is None:
        return None
    return backend.log_feedback(run_id, thumbs_up=thumbs_up, comment=comment, user=user)


def flush_tracing(timeout_seconds: float = FLUSH_TIMEOUT_SECONDS) -> None:
    """Sends the spans still queued in this process; call it when the service stops.

    Spans leave a process from background queues, a few seconds after their request. MLflow
    would drain them at interpreter exit, but uvicorn ends a process it stopped on SIGTERM by
    raising the signal again, so exit hooks never run and the last seconds of traces would be
    lost. Blocking, and bounded: a tracking server that does not answer cannot hold up the stop.
    """
    backend = _state.backend
    if backend is not None and not backend.flush(timeout_seconds):
        log.warning(
            "tracing: spans still queued after %.0f s at shutdown are lost", timeout_seconds
        )


def configure_tracing(settings: Settings) -> bool:
    """Turns tracing on for this process when `MLFLOW_TRACKING_URI` is set; True if it is on.

    Idempotent (several in-thread services of a test share one process). The experiment is
    resolved on the tracking server before the first span; if the server does not answer within
    `ACTIVATION_WAIT_SECONDS`, startup goes on and tracing starts once it does, so a slow or
    absent MLflow never keeps the API from serving.
    """
    uri = settings.mlflow_tracking_uri
    _state.service = settings.aether_service.value
    if not uri:
        return False
    if _state.configured_uri == uri:
        return _state.backend is not None
    _state.configured_uri = uri
    # MLflow's usage telemetry would call out to the internet; an operator may opt back in.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # Imported here, not at the top: the one place mlflow is loaded, so a process without
    # MLFLOW_TRACKING_URI never pays for importing it (seconds and tens of MB).
    from aether.observability.mlflow_tracing import connect

    def connect_backend() -> TracingBackend:
        return connect(
            uri,
            settings.mlflow_experiment_name,
            service=_state.service,
            sampling_ratio=settings.mlflow_trace_sampling_ratio,
        )

    activation = threading.Thread(
        target=_activate,
        args=(connect_backend, uri, settings.mlflow_experiment_name),
        name="aether-mlflow-activation",
        daemon=True,
    )
    activation.start()
    activation.join(ACTIVATION_WAIT_SECONDS)
    if _state.backend is None:
        log.warning("tracing pending: MLflow at %s has not answered yet", uri)
    return _state.backend is not None


def _activate(connect_backend: Callable[[], TracingBackend], uri: str, experiment: str) -> None:
    while _state.configured_uri == uri:
        try:
            backend = connect_backend()
        except Exception as exc:  # any failure of the tracking server: try again later
            log.warning("MLflow at %s is not usable yet (%s); retrying", uri, exc)
            threading.Event().wait(ACTIVATION_RETRY_SECONDS)
            continue
        _state.backend = backend
        log.info("tracing to MLflow at %s, experiment %r", uri, experiment)
        return


def reset_tracing() -> None:
    """Back to off (tests); spans already open end normally."""
    _state.backend = None
    _state.configured_uri = None
