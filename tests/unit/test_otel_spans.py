"""Spans as the MLflow tracking server will read them, recorded by OpenTelemetry's in-memory
exporter: MLflow's attributes, parents within a process and across services through
`traceparent`, failures, and sampling decided once at the root."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from aether.observability import otel_spans
from aether.observability.otel_spans import OtelSpans


class Service:
    """One process's tracing, as a service has it, with the spans it exported."""

    def __init__(self, name: str, sampling_ratio: float = 1.0) -> None:
        self.exported = InMemorySpanExporter()
        self.spans = OtelSpans(self.exported, service=name, sampling_ratio=sampling_ratio)

    def finished(self) -> dict[str, ReadableSpan]:
        assert self.spans.flush(5)
        return {span.name: span for span in self.exported.get_finished_spans()}


@pytest.fixture
def gateway() -> Iterator[Service]:
    service = Service("gateway")
    yield service
    service.spans.shutdown()


@pytest.fixture
def analysts() -> Iterator[Service]:
    service = Service("ds-analysts")
    yield service
    service.spans.shutdown()


def test_a_span_carries_mlflows_attributes_as_its_client_writes_them(gateway: Service) -> None:
    with gateway.spans.span("chat", "CHAIN", {"aether.run_id": "run-1", "aether.attempt": 2}) as s:
        assert s.recording
        gateway.spans.tag_trace("run-1", "conv-1")
        s.set_inputs({"question": "How much?", "history": 0})
        with gateway.spans.span("llm", "CHAT_MODEL", {"aether.model": "m"}) as llm:
            llm.set_token_usage(12, 30)
        s.set_outputs("About 40 kWh.")
    spans = gateway.finished()
    chat, llm_span = spans["chat"].attributes or {}, spans["llm"].attributes or {}
    assert chat["mlflow.spanType"] == '"CHAIN"'
    assert json.loads(str(chat["mlflow.spanInputs"])) == {"question": "How much?", "history": 0}
    assert json.loads(str(chat["mlflow.spanOutputs"])) == "About 40 kWh."
    assert chat["mlflow.traceTag.aether.run_id"] == '"run-1"'
    assert chat["session.id"] == '"conv-1"'
    assert chat["mlflow.spanLogLevel"] == "10"
    # Our own attributes keep their types: the server reads the attempt back as a number.
    assert (chat["aether.service"], chat["aether.run_id"], chat["aether.attempt"]) == (
        "gateway",
        "run-1",
        2,
    )
    assert json.loads(str(llm_span["mlflow.chat.tokenUsage"])) == {
        "input_tokens": 12,
        "output_tokens": 30,
        "total_tokens": 42,
    }
    assert llm_span["mlflow.spanLogLevel"] == "20"
    assert spans["llm"].parent is not None
    assert spans["llm"].parent.span_id == spans["chat"].context.span_id
    assert spans["chat"].status.status_code is StatusCode.OK


def test_an_exception_or_a_failure_marks_the_span_failed(gateway: Service) -> None:
    with pytest.raises(ValueError, match="memory"), gateway.spans.span("sandbox job", "TOOL", {}):
        raise ValueError("the job ran out of memory")
    with gateway.spans.span("energy-analyst", "AGENT", {}) as span:
        span.fail("No data for the window.")
    spans = gateway.finished()
    job, analyst = spans["sandbox job"], spans["energy-analyst"]
    assert job.status.status_code is StatusCode.ERROR
    assert job.status.description == "ValueError: the job ran out of memory"
    assert [event.name for event in job.events] == ["exception"]
    assert (job.attributes or {})["mlflow.spanLogLevel"] == "40"
    assert analyst.status.status_code is StatusCode.ERROR
    assert (analyst.attributes or {})["aether.error"] == "No data for the window."


def test_a_cancelled_span_is_not_a_failed_one(gateway: Service) -> None:
    with pytest.raises(GeneratorExit), gateway.spans.span("chat", "CHAIN", {}):
        raise GeneratorExit
    assert gateway.finished()["chat"].status.status_code is StatusCode.OK


def test_a_callee_continues_the_callers_trace_from_its_traceparent(
    gateway: Service, analysts: Service
) -> None:
    assert gateway.spans.outgoing_headers() == {}
    with gateway.spans.span("chat", "CHAIN", {}):
        headers = gateway.spans.outgoing_headers()
    with (
        analysts.spans.continue_trace({"Traceparent": headers["traceparent"]}),
        analysts.spans.span("energy-analyst", "AGENT", {}),
    ):
        pass
    chat = gateway.finished()["chat"]
    analyst = analysts.finished()["energy-analyst"]
    assert analyst.context.trace_id == chat.context.trace_id
    assert analyst.parent is not None
    assert analyst.parent.is_remote
    assert analyst.parent.span_id == chat.context.span_id
    assert (analyst.attributes or {})["aether.service"] == "ds-analysts"


def test_a_request_left_out_by_sampling_is_left_out_by_every_service(analysts: Service) -> None:
    gateway = Service("gateway", sampling_ratio=0.0)
    try:
        with gateway.spans.span("chat", "CHAIN", {}) as span:
            assert not span.recording
            headers = gateway.spans.outgoing_headers()
        # The decision travels: the trace context still goes out, marked not sampled.
        flags = int(headers["traceparent"].rsplit("-", 1)[1], 16)
        assert flags & 1 == 0, headers  # W3C's "sampled" bit
        with (
            analysts.spans.continue_trace(headers),
            analysts.spans.span("energy-analyst", "AGENT", {}) as callee,
        ):
            assert not callee.recording
        assert gateway.finished() == {}
        assert analysts.finished() == {}
    finally:
        gateway.spans.shutdown()


def test_values_that_are_not_plain_become_json_and_none_is_left_out() -> None:
    assert otel_spans.plain_attributes({"a": [1, 2], "b": None, "c": 1.5, "d": True}) == {
        "a": "[1, 2]",
        "c": 1.5,
        "d": True,
    }
