"""The DS orchestrator's decisions: the scored router, retries with adjusted parameters, the
synthesis (dedupe, cross-checks with the diagnostics, conflicts, ranking), all as status events."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from aether.agents.contract import (
    AgentEvent,
    AgentName,
    AgentRequest,
    FinalEvent,
    FindingsEvent,
    ServiceName,
    Stage,
    StatusEvent,
)
from aether.agents.intent import read_intent
from aether.agents.orchestrator import DSOrchestrator
from aether.agents.retry import Outcome, RetryPolicy, next_attempt
from aether.agents.synthesis import synthesis
from aether.analysis.findings import AnalysisParams, Finding, Metric
from aether.analysis.tariff import Tariff

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
Answer = Callable[[AnalysisParams], tuple[list[Finding], float]]


def finding(
    analyst: str,
    kind: str,
    entities: list[str],
    confidence: float = 0.9,
    metrics: list[Metric] | None = None,
    importance: float = 0.5,
) -> Finding:
    return Finding.model_validate(
        {
            "analyst": analyst,
            "kind": kind,
            "title": kind.replace("_", " ").capitalize(),
            "summary": f"{kind} finding.",
            "confidence": confidence,
            "entities": entities,
            "metrics": metrics or [],
            "importance": importance,
        }
    )


class FakeAnalysts:
    """Answers each analyst from a function of the parameters it was given."""

    def __init__(self, answers: dict[AgentName, Answer]) -> None:
        self.answers = answers
        self.calls: list[tuple[AgentName, AnalysisParams]] = []

    def client_for(self, service: ServiceName) -> FakeAnalysts:
        assert service is ServiceName.DS_ANALYSTS
        return self

    async def stream(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        assert request.analysis is not None
        self.calls.append((request.agent, request.analysis))
        findings, confidence = self.answers[request.agent](request.analysis)
        yield FindingsEvent(agent=request.agent, findings=findings, confidence=confidence)
        yield FinalEvent(agent=request.agent, text="")


def params(days: float = 7, gap: float = 30, focus: list[str] | None = None) -> AnalysisParams:
    return AnalysisParams(
        window_start=NOW - timedelta(days=days),
        window_end=NOW,
        timezone="Europe/Berlin",
        window_label="last week",
        max_gap_minutes=gap,
        focus_entities=focus or [],
    )


async def run(
    fake: FakeAnalysts, question: str, p: AnalysisParams | None = None, **kw: object
) -> list[AgentEvent]:
    orchestrator = DSOrchestrator(fake, lambda: NOW, "Europe/Berlin", **kw)  # type: ignore[arg-type]
    request = AgentRequest(
        run_id="r1", agent=AgentName.DS_ORCHESTRATOR, question=question, analysis=p or params()
    )
    return [event async for event in orchestrator.stream(request)]


def statuses(events: list[AgentEvent], stage: Stage) -> list[StatusEvent]:
    return [e for e in events if isinstance(e, StatusEvent) and e.stage is stage]


def sparse_energy(p: AnalysisParams) -> tuple[list[Finding], float]:
    """Hourly data: weak at a 30-min tolerance, good from 120 min."""
    conf = 0.9 if p.max_gap_minutes >= 120 else 0.3
    return [finding("energy", "consumption_total", ["sensor.grid"], conf)], conf


def test_the_router_scores_analysts_and_the_decision_is_an_event() -> None:
    intent = read_intent("What is my baseload and my peak demand?")
    assert intent.analysts() == ["energy"]
    assert intent.scores["energy"] > 0.9 > 0.3 > intent.scores["diagnostic"]
    vague = read_intent("How much energy did I use? Is the data ok?")
    assert vague.analysts() == ["energy"]
    assert 0 < vague.scores["diagnostic"] < 0.5 * vague.scores["energy"]


async def test_a_weak_result_is_retried_with_a_wider_gap_tolerance() -> None:
    fake = FakeAnalysts({AgentName.ENERGY_ANALYST: sparse_energy})
    events = await run(fake, "How much energy did I use last week?")
    planning = statuses(events, Stage.PLANNING)[0]
    assert planning.data["analysts"] == ["energy"]
    assert planning.data["scores"]["energy"] >= 0.3
    assert [p.max_gap_minutes for _, p in fake.calls] == [30, 120]
    retry = statuses(events, Stage.ANALYST_RETRY)[0]
    assert retry.data["adjustment"] == "resolution"
    assert retry.data["confidence"] == 0.3
    decision = statuses(events, Stage.ANALYST_FINISHED)[-1]
    assert decision.data["kept_attempt"] == 2
    final = next(e for e in events if isinstance(e, FindingsEvent))
    assert final.confidence == 0.9


async def test_attempts_are_bounded_and_the_best_one_is_kept() -> None:
    confidences = iter([0.5, 0.2, 0.1])

    def worse(p: AnalysisParams) -> tuple[list[Finding], float]:
        conf = next(confidences)
        return [finding("energy", "consumption_total", ["sensor.grid"], conf)], conf

    fake = FakeAnalysts({AgentName.ENERGY_ANALYST: worse})
    events = await run(fake, "energy use")
    assert len(fake.calls) == 3
    assert len(statuses(events, Stage.ANALYST_RETRY)) == 2
    decision = statuses(events, Stage.ANALYST_FINISHED)[-1]
    assert decision.data["kept_attempt"] == 1
    assert "no retries left" in decision.message


async def test_a_short_behavioral_window_is_extended_to_a_week() -> None:
    def behaviour(p: AnalysisParams) -> tuple[list[Finding], float]:
        days = (p.window_end - p.window_start).days
        conf = 0.95 * min(days / 7, 1)
        return [finding("behavioral", "usage_pattern", ["light.x"], conf)], conf

    fake = FakeAnalysts({AgentName.BEHAVIORAL_ANALYST: behaviour})
    await run(fake, "When do I switch on the lights?", params(days=2))
    windows = [(p.window_end - p.window_start).days for _, p in fake.calls]
    assert windows == [2, 7]
    assert "extended" in fake.calls[1][1].window_label


def test_focused_entities_without_data_are_widened_to_all() -> None:
    p = params(focus=["sensor.nothing"])
    outcome = Outcome(0.0, [finding("energy", "no_data", [], 0.0)])
    adjustment = next_attempt("energy", p, outcome, set(), RetryPolicy())
    assert adjustment is not None
    assert adjustment.kind == "entities"
    assert adjustment.params.focus_entities == []


async def test_the_tariff_reaches_the_analysts() -> None:
    fake = FakeAnalysts({AgentName.ENERGY_ANALYST: sparse_energy})
    await run(fake, "what did it cost", tariff=Tariff.parse("0.3 EUR"))
    assert all(p.tariff == Tariff.parse("0.3 EUR") for _, p in fake.calls)


def test_synthesis_cross_checks_with_the_diagnostics_and_states_conflicts() -> None:
    energy = finding(
        "energy",
        "consumption_by_entity",
        ["sensor.heat_pump_power"],
        0.9,
        [Metric(name="energy", value=10.0, unit="kWh", entity_id="sensor.heat_pump_power")],
    )
    stale = finding("diagnostic", "stale_sensor", ["sensor.heat_pump_power"], 0.95)
    other = finding(
        "behavioral",
        "standby_consumption",
        ["sensor.heat_pump_power"],
        0.8,
        [Metric(name="energy", value=12.0, unit="kWh", entity_id="sensor.heat_pump_power")],
    )
    result = synthesis([energy, energy.model_copy(update={"confidence": 0.5}), stale, other])
    assert result.duplicates == 1
    checked = next(f for f in result.findings if f.kind == "consumption_by_entity")
    assert checked.confidence == pytest.approx(0.9 * 0.8 * 0.9)
    assert any("stale sensor of sensor.heat_pump_power" in e.description for e in checked.evidence)
    assert len(result.conflicts) == 1
    assert "says 10 kWh" in result.conflicts[0]
    assert result.findings[0].kind == "stale_sensor"


async def test_the_synthesis_is_an_event_of_the_run() -> None:
    fake = FakeAnalysts(
        {
            AgentName.ENERGY_ANALYST: sparse_energy,
            AgentName.DIAGNOSTIC_ANALYST: lambda p: (
                [finding("diagnostic", "gap", ["sensor.grid"], 0.95)],
                0.9,
            ),
        }
    )
    events = await run(fake, "How much energy did I use, and are there gaps in the data?")
    writing = statuses(events, Stage.WRITING)[0]
    assert writing.data["cross_references"]
    assert writing.data["ranking"]
