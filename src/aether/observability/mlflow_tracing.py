"""The MLflow side of `aether.observability.tracing`, loaded only when tracing is on.

Spans are written by `otel_spans` in MLflow's conventions and leave the process through
OpenTelemetry's batch span processor and OTLP/HTTP exporter to the tracking server's
`/v1/traces`, which creates each trace from its spans: one request per second carries every
trace of that second, where MLflow's own exporter would make a REST call per trace
(`StartTraceV3`, about 1.7 ms of the caller's CPU). The light `mlflow-tracing` package does the
rest: the experiment, the server's credentials, and feedback on a run's trace.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Final

import mlflow
from mlflow.entities import AssessmentSource, AssessmentSourceType
from mlflow.tracing.utils.otlp import OTLP_TRACES_PATH, build_otlp_headers
from mlflow.tracking import MlflowClient
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from aether.observability.otel_spans import RUN_TAG, OtelSpans

FEEDBACK_NAME: Final = "user_feedback"
ENVIRONMENT_PROBES: Final = ("dbruntime", "IPython", "pyspark", "mlflow.pyfunc")
"""Modules MLflow tries to import on every request to the tracking server, to detect Databricks,
notebooks, Spark or a model-serving context. Python does not remember a failed import, so each
try scans the whole path again (measured: 2-3 ms of CPU per trace when MLflow wrote the spans).
`mlflow.pyfunc` is absent from `mlflow-tracing`."""


def remember_missing_modules(names: tuple[str, ...] = ENVIRONMENT_PROBES) -> list[str]:
    """Marks the modules of `names` that are not installed as missing (None in `sys.modules`,
    Python's own marker), so importing one fails at once; installed ones are left alone."""
    missing = [
        name for name in names if name not in sys.modules and importlib.util.find_spec(name) is None
    ]
    for name in missing:
        sys.modules[name] = None  # type: ignore[assignment]
    return missing


class MlflowBackend(OtelSpans):
    """Spans into one MLflow experiment, and users' feedback on the traces."""

    def __init__(
        self,
        exporter: OTLPSpanExporter,
        experiment_id: str,
        *,
        service: str,
        sampling_ratio: float,
    ) -> None:
        super().__init__(exporter, service=service, sampling_ratio=sampling_ratio)
        self.experiment_id = experiment_id

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

    def _trace_of(self, run_id: str) -> str | None:
        traces = MlflowClient().search_traces(
            locations=[self.experiment_id],
            filter_string=f"tags.`{RUN_TAG}` = '{_quoted(run_id)}'",
            max_results=1,
            include_spans=False,
        )
        return traces[0].info.trace_id if traces else None


def connect(
    tracking_uri: str, experiment: str, *, service: str, sampling_ratio: float
) -> MlflowBackend:
    """The backend for `experiment` on the tracking server, created if missing; raises while the
    server cannot be reached. Done once, at startup: the experiment's id goes with every export."""
    remember_missing_modules()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        experiment_id = mlflow.set_experiment(experiment).experiment_id
    except mlflow.MlflowException:
        # Another service created it between our lookup and our create: look it up again.
        experiment_id = mlflow.set_experiment(experiment).experiment_id
    # The headers name the experiment and carry the server's credentials (MLFLOW_TRACKING_TOKEN
    # or user and password), like MLflow's own calls.
    exporter = OTLPSpanExporter(
        endpoint=tracking_uri.rstrip("/") + OTLP_TRACES_PATH,
        headers=build_otlp_headers(experiment_id),
    )
    return MlflowBackend(exporter, experiment_id, service=service, sampling_ratio=sampling_ratio)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
