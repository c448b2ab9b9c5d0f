"""The MLflow side of `aether.observability.tracing`, loaded only when tracing is on.

Works with the light `mlflow-tracing` package (the services' runtime dependency) as well as with
full `mlflow`: it uses the fluent span API, the W3C header helpers of `mlflow.tracing`, trace
tags, search and assessments, all of which both ship.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import mlflow
from mlflow.entities import AssessmentSource, AssessmentSourceType, SpanStatusCode
from mlflow.entities.span import LiveSpan
from mlflow.tracing import (
    get_tracing_context_headers_for_http_request,
    set_tracing_context_from_http_request_headers,
)
from mlflow.tracing.constant import SpanAttributeKey
from mlflow.tracking import MlflowClient

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


class _MlflowSpan:
    recording = True

    def __init__(self, live: LiveSpan) -> None:
        self._live = live

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self._live.set_attributes(dict(attributes))

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
        server at the start of every trace."""
        try:
            experiment = mlflow.set_experiment(self.experiment)
        except mlflow.MlflowException:
            # Another service created it between our lookup and our create: look it up again.
            experiment = mlflow.set_experiment(self.experiment)
        self._experiment_id = experiment.experiment_id

    @contextmanager
    def span(self, name: str, kind: SpanKind, attributes: Mapping[str, Any]) -> Iterator[Span]:
        attributes = {SERVICE_ATTRIBUTE: self.service, **attributes}
        with mlflow.start_span(name=name, span_type=kind, attributes=attributes) as live:
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
        mlflow.update_current_trace(
            tags={RUN_TAG: run_id}, client_request_id=run_id, session_id=conversation_id
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
        # In a thread of its own: MLflow retries an unreachable server for minutes.
        flushing = threading.Thread(
            target=mlflow.flush_trace_async_logging, name="aether-mlflow-flush", daemon=True
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


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
