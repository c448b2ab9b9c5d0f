"""Tracing when it is off: neither MLflow nor OpenTelemetry is loaded, spans are one shared no-op,
no headers."""

from __future__ import annotations

import os
import subprocess
import sys

from aether.config import load_settings
from aether.mesh.trace_context import TRACEPARENT_HEADER, outgoing_headers, trace_id_for_run
from aether.observability import tracing


def test_without_a_tracking_uri_tracing_stays_off_and_mlflow_is_never_imported() -> None:
    code = (
        "import sys\n"
        "from aether.cli import build_app\n"
        "from aether.config import load_settings\n"
        "from aether.observability.tracing import configure_tracing\n"
        "build_app(load_settings())\n"
        "assert configure_tracing(load_settings()) is False\n"
        "assert 'mlflow' not in sys.modules, 'mlflow was imported'\n"
        "assert 'opentelemetry.sdk' not in sys.modules, 'the OpenTelemetry SDK was imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("MLFLOW_")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_spans_are_one_shared_no_op_and_calls_carry_no_trace_headers() -> None:
    assert tracing.configure_tracing(load_settings(mlflow_tracking_uri="")) is False
    assert not tracing.enabled()
    with tracing.span("chat", "CHAIN", {"aether.run_id": "r"}) as span:
        assert span is tracing.NOOP_SPAN
        assert not span.recording
        span.set_inputs({"question": "q"})
        span.set_token_usage(1, 2)
        span.fail("ignored")
        assert tracing.outgoing_headers() == {}
    with tracing.continue_trace({"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}):
        assert tracing.outgoing_headers() == {}
    assert tracing.log_feedback("r", thumbs_up=True, comment=None, user="u") is None
    # A2A calls still carry a traceparent: the run's own trace, derived from its id.
    assert outgoing_headers("run-9")[TRACEPARENT_HEADER].split("-")[1] == trace_id_for_run("run-9")
