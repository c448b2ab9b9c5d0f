"""What writing a "hello" request's spans costs the thread that serves it: Aether's spans
(`aether.observability.otel_spans`) against MLflow's fluent API (`mlflow.start_span`) for the same
three spans, attributes, inputs and outputs, measured in the same run.

Each variant runs in a fresh interpreter of its own (MLflow's tracer provider is process-wide;
both import mlflow, as a traced service does),
exports over OTLP/HTTP to a do-nothing endpoint on loopback (so no tracking server takes CPU), and
reports the CPU time of the writing thread per trace, then of the whole process once the export
thread has sent everything (encoding and the HTTP requests included).

    .venv/bin/python bench/span_cost.py [--traces 1500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import mlflow
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from aether.observability.mlflow_tracing import remember_missing_modules
from aether.observability.otel_spans import OtelSpans

VARIANTS = ("mlflow", "aether")
RUN_ID, CONVERSATION = "run-0123456789", "conv-0123456789"
ANSWER = "Hello! I can answer questions about your household's energy use."
WARM_UP = 200
EXPORT_WAIT_SECONDS = 3.0
"""After the last trace: for the batch processor (1 s schedule) to send what is queued."""


class DoNothingOtlp(BaseHTTPRequestHandler):
    """Takes an OTLP export and answers 200, like a collector that drops everything."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


@contextmanager
def otlp_sink() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), DoNothingOtlp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def mlflow_hello(endpoint: str) -> Callable[[], None]:
    remember_missing_modules()
    mlflow.set_tracking_uri(endpoint)
    os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = f"{endpoint}/v1/traces"
    os.environ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = "http/protobuf"

    def hello() -> None:
        with mlflow.start_span(name="chat", span_type="CHAIN") as chat:
            chat.set_attributes(
                {"aether.service": "gateway", "aether.run_id": RUN_ID, "aether.model": "aether"}
            )
            chat.set_attributes(
                {"mlflow.traceTag.aether.run_id": RUN_ID, "session.id": CONVERSATION}
            )
            chat.set_inputs({"question": "hello", "history": 0})
            with mlflow.start_span(name="routing", span_type="CHAIN") as routing:
                routing.set_attributes({"aether.service": "gateway", "aether.run_id": RUN_ID})
                routing.set_outputs({"agent": "architect", "reason": "greeting", "confidence": 1.0})
            with mlflow.start_span(name="architect", span_type="AGENT") as architect:
                architect.set_attributes(
                    {"aether.service": "gateway", "aether.run_id": RUN_ID, "aether.agent": "a"}
                )
                architect.set_inputs({"run_id": RUN_ID, "agent": "architect", "message": "hello"})
                architect.set_outputs(ANSWER)
            chat.set_outputs(ANSWER)

    return hello


def aether_hello(endpoint: str) -> Callable[[], None]:
    spans = OtelSpans(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"), service="gateway")

    def hello() -> None:
        attributes = {"aether.run_id": RUN_ID, "aether.model": "aether"}
        with spans.span("chat", "CHAIN", attributes) as chat:
            spans.tag_trace(RUN_ID, CONVERSATION)
            chat.set_inputs({"question": "hello", "history": 0})
            with spans.span("routing", "CHAIN", {"aether.run_id": RUN_ID}) as routing:
                routing.set_outputs({"agent": "architect", "reason": "greeting", "confidence": 1.0})
            with spans.span("architect", "AGENT", {"aether.run_id": RUN_ID}) as architect:
                architect.set_inputs({"run_id": RUN_ID, "agent": "architect", "message": "hello"})
                architect.set_outputs(ANSWER)
            chat.set_outputs(ANSWER)

    return hello


def measure_one(variant: str, traces: int) -> dict[str, float]:
    """In this process: the variant's CPU milliseconds per trace, thread and process."""
    with otlp_sink() as endpoint:
        hello = (mlflow_hello if variant == "mlflow" else aether_hello)(endpoint)
        for _ in range(WARM_UP):
            hello()
        time.sleep(EXPORT_WAIT_SECONDS)
        process_before, thread_before = time.process_time(), time.thread_time()
        for _ in range(traces):
            hello()
        thread_ms = (time.thread_time() - thread_before) * 1000 / traces
        time.sleep(EXPORT_WAIT_SECONDS)
        process_ms = (time.process_time() - process_before) * 1000 / traces
    return {"thread": thread_ms, "process": process_ms}


def run_variant(variant: str, traces: int) -> dict[str, float]:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "OTEL_BSP_SCHEDULE_DELAY": "1000"}
    # The queue must hold a burst of traces written back to back, as no request rate ever does.
    env["OTEL_BSP_MAX_QUEUE_SIZE"] = str(4 * traces)
    done = subprocess.run(
        [sys.executable, __file__, "--one", variant, "--traces", str(traces)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--traces", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.traces)))
        return
    results: dict[str, list[dict[str, float]]] = {variant: [] for variant in VARIANTS}
    for _ in range(args.rounds):
        for variant in VARIANTS:
            results[variant].append(run_variant(variant, args.traces))
    print(f'a "hello" trace (3 spans), {args.traces} traces per round, {args.rounds} rounds')
    medians = {}
    for variant, runs in results.items():
        thread = statistics.median(run["thread"] for run in runs)
        process = statistics.median(run["process"] for run in runs)
        medians[variant] = thread
        rounds = ", ".join(f"{run['thread']:.3f}" for run in runs)
        print(
            f"  {variant:<7} request thread {thread:.3f} ms/trace ({rounds}); "
            f"with the export {process:.3f} ms/trace"
        )
    ratio = medians["mlflow"] / medians["aether"]
    print(f"  MLflow's fluent API costs the request thread {ratio:.1f}x as much")


if __name__ == "__main__":
    main()
