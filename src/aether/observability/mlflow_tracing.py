"""The MLflow side of `aether.observability.tracing`, loaded only when tracing is on.

Works with the light `mlflow-tracing` package (the services' runtime dependency) as well as with
full `mlflow`: it uses the fluent span API, the W3C header helpers of `mlflow.tracing`, search and
assessments, all of which both ship.

Spans leave the process through MLflow's OTLP path: an OpenTelemetry batch span processor sends
the ended spans of many traces in one request to the tracking server's `/v1/traces`, which
creates each trace from its spans. MLflow's own exporter would instead create every trace with a
REST call of its own (`StartTraceV3`, about 1.7 ms of the caller's CPU), more than a "hello"
request's whole share of tracing. Unlike MLflow's exporter, it can send a callee's spans after
`continue_trace` has exited without losing them, so every service uses the batch processor.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final, cast
from urllib.parse import quote

import mlflow
from mlflow.entities import AssessmentSource, AssessmentSourceType, SpanStatusCode
from mlflow.entities.span import LiveSpan
from mlflow.tracing import (
    get_tracing_context_headers_for_http_request,
    set_tracing_context_from_http_request_headers,
)
from mlflow.tracing.constant import SpanAttributeKey
from mlflow.tracing.provider import provider as mlflow_tracer_provider
from mlflow.tracing.utils.otlp import OTLP_TRACES_PATH, build_otlp_headers
from mlflow.tracking import MlflowClient
from opentelemetry.trace import Span as OtelSpan

from aether.observability.tracing import Span, SpanKind

log = logging.getLogger(__name__)

RUN_TAG: Final = "aether.run_id"
"""Trace tag holding the run id: feedback on a run finds its trace through it."""
SERVICE_ATTRIBUTE: Final = "aether.service"
"""Span attribute naming the process (gateway, architect, ...) that recorded the span."""
FEEDBACK_NAME: Final = "user_feedback"
ENVIRONMENT_PROBES: Final = ("dbruntime", "IPython", "pyspark", "mlflow.pyfunc")
"""Modules MLflow tries to import on every span and every request to the tracking server, to
detect Databricks, notebooks, Spark or a model-serving context. Python does not remember a failed
import, so each try scans the whole path again: about 24 failed imports per trace, 2-3 ms of CPU
per trace in the exporting threads (measured). `mlflow.pyfunc` is absent from `mlflow-tracing`."""


def remember_missing_modules(names: tuple[str, ...] = ENVIRONMENT_PROBES) -> list[str]:
    """Marks the modules of `names` that are not installed as missing (None in `sys.modules`,
    Python's own marker), so importing one fails at once; installed ones are left alone."""
    missing = [
        name for name in names if name not in sys.modules and importlib.util.find_spec(name) is None
    ]
    for name in missing:
        sys.modules[name] = None  # type: ignore[assignment]
    return missing


def set_attributes(live: LiveSpan, attributes: Mapping[str, Any]) -> None:
    """Numbers and booleans go to the OpenTelemetry span as they are: MLflow's span stores
    every value as JSON text, and over OTLP the server keeps such text as a string (the
    attempt number 1 would come back as "1"). Everything else goes through MLflow."""
    otel_span = cast(OtelSpan, live._span)
    others = {}
    for key, value in attributes.items():
        if isinstance(value, bool | int | float):
            otel_span.set_attribute(key, value)
        else:
            others[key] = value
    if others:
        live.set_attributes(others)


class _MlflowSpan:
    recording = True

    def __init__(self, live: LiveSpan) -> None:
        self._live = live

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        set_attributes(self._live, attributes)

    def set_inputs(self, inputs: Any) -> None:
        self._live.set_inputs(inputs)

    def set_outputs(self, outputs: Any) -> None:
        self._live.set_outputs(outputs)

    def set_token_usage(self, prompt_tokens: int, completion_tokens: int) -> None:
        # The attribute MLflow sums into the trace's token usage (shown in the trace list).
        usage = {
            "input_tokens": prompt_tokens,
            "output_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        self._live.set_attribute(SpanAttributeKey.CHAT_USAGE, usage)

    def fail(self, message: str) -> None:
        self._live.set_attribute("aether.error", message)
        self._live.set_status(SpanStatusCode.ERROR)


class MlflowBackend:
    def __init__(self, tracking_uri: str, experiment: str, service: str) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.service = service
        self._experiment_id: str | None = None
        remember_missing_modules()
        mlflow.set_tracking_uri(tracking_uri)

    def activate(self) -> None:
        """Resolves (or creates) the experiment; raises while the server cannot be reached.

        Done once, at startup: left to MLflow, the experiment would be looked up by name on the
        server at the start of every trace. Runs before the first span, when MLflow creates its
        tracer provider and reads the OTLP settings from the environment."""
        try:
            experiment = mlflow.set_experiment(self.experiment)
        except mlflow.MlflowException:
            # Another service created it between our lookup and our create: look it up again.
            experiment = mlflow.set_experiment(self.experiment)
        self._experiment_id = experiment.experiment_id
        export_over_otlp(self.tracking_uri, experiment.experiment_id)

    @contextmanager
    def span(self, name: str, kind: SpanKind, attributes: Mapping[str, Any]) -> Iterator[Span]:
        attributes = {SERVICE_ATTRIBUTE: self.service, **attributes}
        with mlflow.start_span(name=name, span_type=kind) as live:
            set_attributes(live, attributes)
            yield _MlflowSpan(live)

    def outgoing_headers(self) -> dict[str, str]:
        if mlflow.get_current_active_span() is None:
            return {}
        return get_tracing_context_headers_for_http_request()

    @contextmanager
    def continue_trace(self, headers: Mapping[str, str]) -> Iterator[None]:
        with set_tracing_context_from_http_request_headers(dict(headers)):
            yield

    def tag_trace(self, run_id: str, conversation_id: str) -> None:
        # As attributes of the root span, which the server turns into the trace's tag and
        # session. `mlflow.update_current_trace(tags=...)` would have MLflow's OTLP processor
        # add them when the root ends, which fails with OpenTelemetry SDK 1.45 (attributes are
        # frozen by then) and drops the root span.
        root = mlflow.get_current_active_span()
        if root is not None:
            root.set_attributes(
                {
                    SpanAttributeKey.TRACE_TAG_PREFIX + RUN_TAG: run_id,
                    SpanAttributeKey.SESSION_ID: conversation_id,
                }
            )

    def log_feedback(
        self, run_id: str, *, thumbs_up: bool, comment: str | None, user: str
    ) -> str | None:
        trace_id = self._trace_of(run_id)
        if trace_id is None:
            return None
        mlflow.log_feedback(
            trace_id=trace_id,
            name=FEEDBACK_NAME,
            value=thumbs_up,
            rationale=comment,
            source=AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id=user),
        )
        return trace_id

    def flush(self, timeout_seconds: float) -> bool:
        # In a thread of its own: the exporter retries an unreachable server.
        flushing = threading.Thread(
            target=_flush_spans,
            args=(int(timeout_seconds * 1000),),
            name="aether-mlflow-flush",
            daemon=True,
        )
        flushing.start()
        flushing.join(timeout_seconds)
        return not flushing.is_alive()

    def _trace_of(self, run_id: str) -> str | None:
        if self._experiment_id is None:
            return None
        traces = MlflowClient().search_traces(
            locations=[self._experiment_id],
            filter_string=f"tags.`{RUN_TAG}` = '{_quoted(run_id)}'",
            max_results=1,
            include_spans=False,
        )
        return traces[0].info.trace_id if traces else None


def export_over_otlp(tracking_uri: str, experiment_id: str) -> None:
    """Points MLflow's OTLP export at the tracking server's `/v1/traces`, into the experiment.

    MLflow reads these (OpenTelemetry's own variables) when it creates its tracer provider, at
    the first span. The headers name the experiment and carry the tracking server's credentials
    (`MLFLOW_TRACKING_TOKEN` or user and password) like MLflow's own calls."""
    headers = build_otlp_headers(experiment_id)
    os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = tracking_uri.rstrip("/") + OTLP_TRACES_PATH
    os.environ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = "http/protobuf"
    os.environ["OTEL_EXPORTER_OTLP_TRACES_HEADERS"] = ",".join(
        f"{name}={quote(value)}" for name, value in headers.items()
    )


def _flush_spans(timeout_millis: int) -> None:
    """Sends what MLflow's batch span processor still holds (MLflow has no public call for
    its OTLP processor: `mlflow.flush_trace_async_logging` drains only its own exporter)."""
    tracer_provider = mlflow_tracer_provider.get()
    force_flush = getattr(tracer_provider, "force_flush", None)
    if force_flush is not None:  # None before the first span: nothing to send
        force_flush(timeout_millis)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
