"""Spans on the OpenTelemetry SDK, in the conventions MLflow reads: the span side of tracing.

The MLflow tracking server builds its traces from OTLP spans (`/v1/traces`); what makes a span an
MLflow span is a handful of attributes: its type, inputs, outputs, token usage, and on the root
the trace's tags and session. This module writes those attributes exactly as MLflow's own client
sends them (JSON text), with OpenTelemetry's tracer, context and W3C propagator.

Why not MLflow's fluent API (`mlflow.start_span`): it wraps every OpenTelemetry span in MLflow
span objects, an in-process trace registry and a JSON round trip per attribute. On a "hello"
request's three spans that cost 0.77 ms of the request thread's CPU, against 0.15 ms for the same
spans written here (`bench/span_cost.py`): most of what tracing cost the cheapest request.

Sampling is decided at the root and followed downstream (`ParentBased`): a request left out is left
out in every service, and the trace context still travels, marked not sampled.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from aether.observability.span_api import Span, SpanKind

# MLflow's span attribute keys (`mlflow.tracing.constant.SpanAttributeKey`), the wire format its
# server reads; kept here so that writing a span never loads mlflow.
SPAN_TYPE: Final = "mlflow.spanType"
INPUTS: Final = "mlflow.spanInputs"
OUTPUTS: Final = "mlflow.spanOutputs"
TOKEN_USAGE: Final = "mlflow.chat.tokenUsage"
"""The attribute MLflow sums into the trace's token usage (shown in the trace list)."""
LOG_LEVEL: Final = "mlflow.spanLogLevel"
TRACE_TAG_PREFIX: Final = "mlflow.traceTag."
"""On the root span: `mlflow.traceTag.<key>` becomes the trace's tag `<key>`."""
SESSION_ID: Final = "session.id"
"""On the root span: the trace's session (the conversation)."""

RUN_TAG: Final = "aether.run_id"
"""Trace tag holding the run id: feedback on a run finds its trace through it."""
SERVICE_ATTRIBUTE: Final = "aether.service"
"""Span attribute naming the process (gateway, architect, ...) that recorded the span."""
ERROR_ATTRIBUTE: Final = "aether.error"

DEBUG, INFO, ERROR = 10, 20, 40
LOG_LEVELS: Final[Mapping[SpanKind, int]] = {
    "CHAIN": DEBUG,
    "TASK": DEBUG,
    "AGENT": INFO,
    "TOOL": INFO,
    "CHAT_MODEL": INFO,
}
"""MLflow's UI verbosity of a span (as MLflow sets it by span type): glue is DEBUG, the work INFO,
and a failed span ERROR."""

EXPORT_DELAY_MILLIS: Final = 1000
"""How long ended spans wait to leave together, unless OTEL_BSP_SCHEDULE_DELAY says otherwise:
one request to the tracking server per second carries every trace of that second
(OpenTelemetry's default, 5 s, would keep a lone trace waiting)."""

_PROPAGATOR: Final = TraceContextTextMapPropagator()


def mlflow_json(value: Any) -> str:
    """An MLflow attribute's value: JSON text, as MLflow's client writes it."""
    return json.dumps(value, ensure_ascii=False, default=str)


def plain_attributes(attributes: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """Our own attributes as OpenTelemetry values: strings, numbers and booleans as they are (so
    `aether.attempt` stays a number on the server), anything else as JSON text; None is left out."""
    return {
        key: value if isinstance(value, str | bool | int | float) else mlflow_json(value)
        for key, value in attributes.items()
        if value is not None
    }


class OtelSpan:
    """A live span, as instrumented code sees it (`tracing.Span`)."""

    __slots__ = ("_failed", "_kind", "_span")

    def __init__(self, span: trace.Span, kind: SpanKind) -> None:
        self._span = span
        self._kind = kind
        self._failed = False

    @property
    def recording(self) -> bool:
        return self._span.is_recording()

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self._span.set_attributes(plain_attributes(attributes))

    def set_inputs(self, inputs: Any) -> None:
        self._span.set_attribute(INPUTS, mlflow_json(inputs))

    def set_outputs(self, outputs: Any) -> None:
        self._span.set_attribute(OUTPUTS, mlflow_json(outputs))

    def set_token_usage(self, prompt_tokens: int, completion_tokens: int) -> None:
        usage = {
            "input_tokens": prompt_tokens,
            "output_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        self._span.set_attribute(TOKEN_USAGE, mlflow_json(usage))

    def fail(self, message: str) -> None:
        self._span.set_attribute(ERROR_ATTRIBUTE, message)
        self._fail(message)

    def raised(self, exc: Exception) -> None:
        self._span.record_exception(exc)
        self._fail(f"{type(exc).__name__}: {exc}")

    def end(self) -> None:
        """Ends the span as MLflow's client does: OK unless it failed, with its UI level."""
        if not self._failed:
            self._span.set_status(Status(StatusCode.OK))
        level = ERROR if self._failed else LOG_LEVELS[self._kind]
        self._span.set_attribute(LOG_LEVEL, mlflow_json(level))
        self._span.end()

    def _fail(self, description: str) -> None:
        self._failed = True
        self._span.set_status(Status(StatusCode.ERROR, description))


class OtelSpans:
    """This process's spans: one tracer provider, exporting through `exporter` in batches."""

    def __init__(self, exporter: SpanExporter, *, service: str, sampling_ratio: float = 1.0):
        self.service = service
        self._provider = TracerProvider(
            sampler=ParentBased(TraceIdRatioBased(sampling_ratio)),
            resource=Resource.create({SERVICE_NAME: f"aether-{service}"}),
        )
        delay = None if "OTEL_BSP_SCHEDULE_DELAY" in os.environ else EXPORT_DELAY_MILLIS
        self._provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=delay))
        self._tracer = self._provider.get_tracer("aether")

    @contextmanager
    def span(self, name: str, kind: SpanKind, attributes: Mapping[str, Any]) -> Iterator[Span]:
        """A child of the current span, current until the block exits. An exception leaving the
        block marks it failed; a cancellation does not (the caller went away, nothing broke)."""
        initial = plain_attributes(attributes)
        initial[SPAN_TYPE] = mlflow_json(kind)
        initial[SERVICE_ATTRIBUTE] = self.service
        otel_span = self._tracer.start_span(name, attributes=initial)
        live = OtelSpan(otel_span, kind)
        token = otel_context.attach(trace.set_span_in_context(otel_span))
        try:
            yield live
        except Exception as exc:
            live.raised(exc)
            raise
        finally:
            otel_context.detach(token)
            live.end()

    def outgoing_headers(self) -> dict[str, str]:
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)  # nothing when no span is current
        return carrier

    @contextmanager
    def continue_trace(self, headers: Mapping[str, str]) -> Iterator[None]:
        parent = _PROPAGATOR.extract({name.lower(): value for name, value in headers.items()})
        token = otel_context.attach(parent)
        try:
            yield
        finally:
            otel_context.detach(token)

    def tag_trace(self, run_id: str, conversation_id: str) -> None:
        # On the root span, the current one: the server turns these into the trace's tag and
        # session when the root arrives.
        trace.get_current_span().set_attributes(
            {
                TRACE_TAG_PREFIX + RUN_TAG: mlflow_json(run_id),
                SESSION_ID: mlflow_json(conversation_id),
            }
        )

    def flush(self, timeout_seconds: float) -> bool:
        # In a thread of its own: the exporter retries an unreachable server past any timeout.
        flushing = threading.Thread(
            target=self._provider.force_flush,
            args=(int(timeout_seconds * 1000),),
            name="aether-span-flush",
            daemon=True,
        )
        flushing.start()
        flushing.join(timeout_seconds)
        return not flushing.is_alive()

    def shutdown(self) -> None:
        """Sends what is queued and stops the export thread (tests that build many)."""
        self._provider.shutdown()
