"""One chat request across the distributed mesh is one MLflow trace, with every service's spans
under the right parents; feedback lands on it, and logs and metrics name the same run and trace.

A real MLflow tracking server (full `mlflow`, a dev dependency) runs for the module, and the four
roles run as processes started by the launcher, each with its own tracing setup, exactly as
`make run-distributed` starts them, with MLFLOW_TRACKING_URI pointing at that server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow.entities import Trace
from mlflow.tracing.constant import SpanAttributeKey
from mlflow.tracking import MlflowClient

from aether.config import without_settings
from aether.deploy.launcher import Deployment
from aether.deploy.loader import load_topology
from aether.deploy.plan import LaunchOptions, resolve
from aether.observability import otel_spans
from aether.observability.mlflow_tracing import remember_missing_modules
from tests.deploy_harness import CapturedLog, wait_for
from tests.servers import free_port

QUESTION = "How much energy did I use last week?"
EXPERIMENT = "aether-test"
SERVICES = {"gateway", "architect", "ds-orchestrator", "ds-analysts"}
# MLflow phones home for usage statistics unless told not to; nothing here leaves the machine.
QUIET_MLFLOW = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server` with one worker and no job runner: about 0.5 GB and 10-15 s to start."""
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--workers=1",
        f"--backend-store-uri=sqlite:///{root / 'mlflow.db'}",
        f"--artifacts-destination={root / 'artifacts'}",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    env = {**os.environ, **QUIET_MLFLOW, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = (root / "server.log").open("w")
    server = subprocess.Popen(command, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(url, server), timeout=90, what="the MLflow server")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _healthy(url: str, server: subprocess.Popen[bytes]) -> bool:
    if server.poll() is not None:
        raise AssertionError(f"the MLflow server exited with {server.returncode}")
    try:
        return httpx.get(f"{url}/health", timeout=2, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass(frozen=True)
class TracedMesh:
    urls: dict[str, str]
    log: CapturedLog
    """Every role's output, one line each, prefixed with the role's name."""


@pytest.fixture(scope="module")
def mesh(mlflow_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TracedMesh]:
    topology = load_topology()
    work = tmp_path_factory.mktemp("traced-mesh")
    options = LaunchOptions(
        free_ports=True,
        data_dir=work / "data",
        service_token="traced-mesh-token",
        environment={**without_settings(os.environ), **QUIET_MLFLOW},
        extra_env={
            "MLFLOW_TRACKING_URI": mlflow_url,
            "MLFLOW_EXPERIMENT_NAME": EXPERIMENT,
            "LOG_FORMAT": "json",
        },
        cwd=work,
    )
    plan = resolve(topology, options)
    log = CapturedLog(plan.roles)
    with Deployment(plan, sink=log.sink, ready_timeout=120, stop_grace=15) as deployment:
        yield TracedMesh(deployment.urls, log)


@pytest.fixture(scope="module")
def run_id(mesh: TracedMesh) -> str:
    body = {"model": "aether", "messages": [{"role": "user", "content": QUESTION}]}
    response = httpx.post(
        f"{mesh.urls['gateway']}/api/v1/chat/completions", json=body, timeout=120, trust_env=False
    )
    assert response.status_code == 200, response.text
    return response.headers["x-run-id"]


@pytest.fixture(scope="module")
def client(mlflow_url: str) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow_url)


@pytest.fixture(scope="module")
def trace(client: MlflowClient, run_id: str) -> Trace:
    """The run's trace, once every service's spans reached the server (they arrive separately)."""
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    found: list[Trace] = []

    def complete() -> bool:
        found[:] = client.search_traces(locations=[experiment.experiment_id], max_results=10)
        return len(found) == 1 and _services(found[0]) == SERVICES and _roots(found[0]) == 1

    try:
        wait_for(complete, timeout=30, what="the trace with spans of every service")
    except AssertionError:
        shown = [(len(t.data.spans), _services(t)) for t in found]
        raise AssertionError(f"traces found: {shown}") from None
    return client.get_trace(found[0].info.trace_id)


def _services(trace: Trace) -> set[str]:
    return {span.attributes.get("aether.service") for span in trace.data.spans}


def _roots(trace: Trace) -> int:
    return sum(1 for span in trace.data.spans if span.parent_id is None)


def test_one_request_is_one_trace_with_every_service_under_the_right_parents(
    trace: Trace, run_id: str
) -> None:
    spans = trace.data.spans
    by_id = {span.span_id: span for span in spans}
    assert all(span.parent_id is None or span.parent_id in by_id for span in spans), "orphans"
    assert trace.info.tags["aether.run_id"] == run_id

    def parent(span: Any) -> Any:
        return by_id[span.parent_id]

    def named(name: str) -> list[Any]:
        return [span for span in spans if span.name == name]

    (root,) = [span for span in spans if span.parent_id is None]
    assert (root.name, root.attributes["aether.service"]) == ("chat", "gateway")
    assert root.span_type == "CHAIN"
    assert root.inputs == {"question": QUESTION, "history": 0}
    assert isinstance(root.outputs, str)
    assert "kWh" in root.outputs
    assert json.loads(trace.info.request_preview or "null") == root.inputs
    session = trace.info.trace_metadata["mlflow.trace.session"]
    assert session == root.attributes["aether.conversation_id"]
    (routing,) = named("routing")
    assert parent(routing) is root
    (architect,) = named("architect")
    assert architect.attributes["aether.service"] == "architect"
    assert architect.span_type == "AGENT"
    assert parent(architect) is root
    (orchestrator,) = named("ds-orchestrator")
    assert orchestrator.attributes["aether.service"] == "ds-orchestrator"
    assert parent(orchestrator) is architect
    analysts = [span for span in spans if span.name.endswith("-analyst")]
    assert analysts, [span.name for span in spans]
    for analyst in analysts:
        assert analyst.attributes["aether.service"] == "ds-analysts"
        assert parent(analyst) is orchestrator
    for name in {analyst.name for analyst in analysts}:
        numbers = sorted(a.attributes["aether.attempt"] for a in analysts if a.name == name)
        assert numbers == list(range(1, len(numbers) + 1)), (name, numbers)
    jobs = [span for span in spans if span.name.startswith("sandbox ")]
    assert jobs
    for job in jobs:
        assert job.attributes["aether.service"] == "ds-analysts"
        assert parent(job) in analysts
        assert job.span_type == "TOOL"


def test_every_service_logs_json_lines_with_the_run_and_its_trace(
    mesh: TracedMesh, trace: Trace, run_id: str
) -> None:
    trace_hex = trace.info.trace_id.removeprefix("tr-")
    services_with_the_run = set()
    for line in mesh.log.lines():
        _, _, text = line.partition("| ")
        if not text.startswith("{"):
            continue
        record = json.loads(text)
        assert {"time", "level", "service", "logger", "message"} <= record.keys()
        if record["run_id"] == run_id:
            assert record["trace_id"] == trace_hex, record
            services_with_the_run.add(record["service"])
    assert services_with_the_run == SERVICES


def test_feedback_is_logged_on_the_runs_trace(
    mesh: TracedMesh, client: MlflowClient, trace: Trace, run_id: str
) -> None:
    response = httpx.post(
        f"{mesh.urls['gateway']}/api/v1/feedback",
        json={"run_id": run_id, "rating": "down", "comment": "Missed the heat pump."},
        timeout=30,
        trust_env=False,
    )
    assert response.status_code == 201, response.text
    assert response.json()["trace_id"] == trace.info.trace_id
    assessments = client.get_trace(trace.info.trace_id).info.assessments
    feedback = [a for a in assessments if a.name == "user_feedback"]
    assert len(feedback) == 1
    assert feedback[0].value is False
    assert feedback[0].rationale == "Missed the heat pump."
    assert feedback[0].source.source_type == "HUMAN"


def test_every_service_serves_its_metrics(mesh: TracedMesh, run_id: str) -> None:
    expected = {
        "gateway": [
            'aether_a2a_calls_total{outcome="completed",service="gateway",target="architect"}',
            'aether_runs_total{service="gateway",status="completed"}',
            'route="/api/v1/chat/completions",service="gateway",status="200"}',
        ],
        "architect": ['aether_a2a_tasks_total{agent="architect",outcome="completed"'],
        "ds-orchestrator": [
            'aether_a2a_calls_total{outcome="completed",service="ds-orchestrator"',
        ],
        "ds-analysts": ['aether_sandbox_jobs_total{analyst="energy"'],
    }
    for role, series in expected.items():
        text = httpx.get(f"{mesh.urls[role]}/metrics", timeout=10, trust_env=False).text
        for one in series:
            assert one in text, (role, one)
        assert f'route="/ready",service="{role}",status="200"}}' in text, role


def test_a_stopping_gateway_sends_its_last_traces_first(
    mlflow_url: str, client: MlflowClient, tmp_path: Path
) -> None:
    """uvicorn ends a process stopped by SIGTERM by raising the signal again, so MLflow's exit
    hooks never run: without the flush at shutdown, every span still queued would be lost. The
    export interval is a minute here, so every trace is still queued when the stop comes."""
    experiment_name, requests = "aether-stop-test", 6
    port = free_port()
    env = without_settings(os.environ)
    env.update(
        QUIET_MLFLOW,
        PORT=str(port),
        AETHER_DATA_DIR=str(tmp_path / "data"),
        MLFLOW_TRACKING_URI=mlflow_url,
        MLFLOW_EXPERIMENT_NAME=experiment_name,
        OTEL_BSP_SCHEDULE_DELAY="60000",
    )
    gateway = subprocess.Popen(
        [sys.executable, "-m", "aether.cli", "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url, gateway), timeout=90, what="the traced gateway")
        body = {"model": "aether", "messages": [{"role": "user", "content": "hello"}]}
        for _ in range(requests):
            response = httpx.post(
                f"{url}/api/v1/chat/completions", json=body, timeout=60, trust_env=False
            )
            assert response.status_code == 200, response.text
    finally:
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(30)
        except subprocess.TimeoutExpired:
            gateway.kill()
    experiment = client.get_experiment_by_name(experiment_name)
    assert experiment is not None
    traces = client.search_traces(locations=[experiment.experiment_id], max_results=50)
    assert len(traces) == requests
    assert all(len(trace.data.spans) == 3 for trace in traces)


def _ready(url: str, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"the gateway exited with {process.returncode}")
    try:
        return httpx.get(f"{url}/ready", timeout=2, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def test_spans_are_written_with_mlflows_attribute_keys() -> None:
    assert (
        otel_spans.SPAN_TYPE,
        otel_spans.INPUTS,
        otel_spans.OUTPUTS,
        otel_spans.TOKEN_USAGE,
        otel_spans.LOG_LEVEL,
        otel_spans.TRACE_TAG_PREFIX,
        otel_spans.SESSION_ID,
    ) == (
        SpanAttributeKey.SPAN_TYPE,
        SpanAttributeKey.INPUTS,
        SpanAttributeKey.OUTPUTS,
        SpanAttributeKey.CHAT_USAGE,
        SpanAttributeKey.LOG_LEVEL,
        SpanAttributeKey.TRACE_TAG_PREFIX,
        SpanAttributeKey.SESSION_ID,
    )


def test_modules_mlflow_probes_for_are_remembered_as_missing() -> None:
    missing = "aether_no_such_module"
    try:
        assert remember_missing_modules((missing, "json")) == [missing]
        with pytest.raises(ModuleNotFoundError):
            __import__(missing)
        assert sys.modules["json"] is not None
    finally:
        sys.modules.pop(missing, None)
