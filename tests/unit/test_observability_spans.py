"""What the spans say when tracing is on, through a recording backend in place of MLflow: each
analyst attempt of the orchestrator is its own span, numbered; and a stopping service flushes."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aether.agents.contract import (
    AgentEvent,
    AgentName,
    AgentRequest,
    FinalEvent,
    FindingsEvent,
    ServiceName,
)
from aether.agents.orchestrator import DSOrchestrator
from aether.analysis.findings import AnalysisParams, Finding
from aether.mesh.inprocess import InProcessAgentClient
from aether.observability import tracing

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


@dataclass
class RecordedSpan:
    name: str
    kind: str
    attributes: dict[str, Any]
    recording: bool = True

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self.attributes.update(attributes)

    def set_inputs(self, inputs: Any) -> None:
        return None

    def set_outputs(self, outputs: Any) -> None:
        return None

    def set_token_usage(self, prompt_tokens: int, completion_tokens: int) -> None:
        return None

    def fail(self, message: str) -> None:
        return None


@dataclass
class RecordingBackend:
    spans: list[RecordedSpan] = field(default_factory=list)
    flushed: bool = True
    """What `flush` answers: False plays a tracking server that did not take the spans."""
    flushes: int = 0

    @contextmanager
    def span(
        self, name: str, kind: tracing.SpanKind, attributes: Mapping[str, Any]
    ) -> Iterator[tracing.Span]:
        recorded = RecordedSpan(name, kind, dict(attributes))
        self.spans.append(recorded)
        yield recorded

    def outgoing_headers(self) -> dict[str, str]:
        return {}

    def continue_trace(self, headers: Mapping[str, str]) -> AbstractContextManager[None]:
        return nullcontext()

    def tag_trace(self, run_id: str, conversation_id: str) -> None:
        return None

    def log_feedback(
        self, run_id: str, *, thumbs_up: bool, comment: str | None, user: str
    ) -> str | None:
        return None

    def flush(self, timeout_seconds: float) -> bool:
        self.flushes += 1
        return self.flushed


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> RecordingBackend:
    recording = RecordingBackend()
    monkeypatch.setattr(tracing._state, "backend", recording)
    return recording


class WeakThenGoodAnalyst:
    """Weak at the first gap tolerance, confident once the orchestrator widened it."""

    async def stream(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        assert request.analysis is not None
        confidence = 0.9 if request.analysis.max_gap_minutes >= 120 else 0.3
        finding = Finding.model_validate(
            {
                "analyst": "energy",
                "kind": "consumption_total",
                "title": "Consumption total",
                "summary": "Consumption.",
                "confidence": confidence,
                "entities": ["sensor.grid"],
                "metrics": [],
                "importance": 0.5,
            }
        )
        yield FindingsEvent(agent=request.agent, findings=[finding], confidence=confidence)
        yield FinalEvent(agent=request.agent, text="")


class AnalystsInProcess:
    """The ds-analysts service as the orchestrator sees it: each call through the in-process
    client, where the agent spans are recorded."""

    def client_for(self, service: ServiceName) -> InProcessAgentClient:
        assert service is ServiceName.DS_ANALYSTS
        return InProcessAgentClient(WeakThenGoodAnalyst())


async def test_each_analyst_attempt_is_a_span_with_its_number(backend: RecordingBackend) -> None:
    orchestrator = DSOrchestrator(AnalystsInProcess(), lambda: NOW, "Europe/Berlin")  # type: ignore[arg-type]
    params = AnalysisParams(
        window_start=NOW - timedelta(days=7),
        window_end=NOW,
        timezone="Europe/Berlin",
        window_label="last week",
        max_gap_minutes=30,
    )
    request = AgentRequest(
        run_id="r1",
        agent=AgentName.DS_ORCHESTRATOR,
        question="How much energy did I use last week?",
        analysis=params,
    )
    events = [event async for event in orchestrator.stream(request)]
    assert any(isinstance(event, FindingsEvent) for event in events)
    attempts = [span for span in backend.spans if span.name == AgentName.ENERGY_ANALYST.value]
    assert [span.attributes.get("aether.attempt") for span in attempts] == [1, 2]
    assert all(span.kind == "AGENT" for span in attempts)


async def test_a_call_that_is_no_attempt_has_no_attempt_attribute(
    backend: RecordingBackend,
) -> None:
    request = AgentRequest(run_id="r2", agent=AgentName.ENERGY_ANALYST, question="energy")
    analysis = AnalysisParams(
        window_start=NOW - timedelta(days=1),
        window_end=NOW,
        timezone="UTC",
        window_label="yesterday",
        max_gap_minutes=30,
    )
    client = InProcessAgentClient(WeakThenGoodAnalyst())
    [_ async for _ in client.stream(request.model_copy(update={"analysis": analysis}))]
    assert "aether.attempt" not in backend.spans[0].attributes


def test_flushing_at_stop_warns_when_spans_could_not_be_sent(
    backend: RecordingBackend, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=tracing.__name__):
        tracing.flush_tracing(0.1)
        assert not caplog.records
        backend.flushed = False
        tracing.flush_tracing(0.1)
    assert backend.flushes == 2
    assert "lost" in caplog.records[0].getMessage()
