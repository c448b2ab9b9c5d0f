"""The DS orchestrator's choice of sandbox policy (depth) per question, and its planning event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aether.agents.contract import AgentName, AgentRequest, Stage, StatusEvent
from aether.agents.orchestrator import DSOrchestrator, choose_depth
from aether.analysis.findings import AnalysisDepth, AnalysisParams, AnalystName
from aether.mesh.directory import StaticDirectory

START = datetime(2024, 3, 1, tzinfo=UTC)


def params(days: float, **extra: object) -> AnalysisParams:
    return AnalysisParams.model_validate(
        {
            "window_start": START,
            "window_end": START + timedelta(days=days),
            "timezone": "Europe/Berlin",
            "window_label": "some days",
            **extra,
        }
    )


def request(question: str, analysis: AnalysisParams | None = None) -> AgentRequest:
    return AgentRequest(
        run_id="r", agent=AgentName.DS_ORCHESTRATOR, question=question, analysis=analysis
    )


@pytest.mark.parametrize(
    ("question", "days", "analysts", "depth"),
    [
        ("How much energy did I use yesterday?", 1, ["energy"], "quick"),
        ("How much energy did I use last week?", 7, ["energy"], "standard"),
        ("When do we cook?", 2, ["energy", "behavioral"], "standard"),
        ("Analyse everything about my house", 7, ["energy", "behavioral", "diagnostic"], "deep"),
        ("Give me a detailed report", 1, ["energy"], "deep"),
        ("How much energy this year?", 90, ["energy"], "deep"),
    ],
)
def test_the_depth_follows_the_question_and_the_window(
    question: str, days: float, analysts: list[AnalystName], depth: AnalysisDepth
) -> None:
    chosen, reason = choose_depth(request(question), params(days), analysts)

    assert chosen == depth
    assert reason


def test_a_depth_set_by_the_caller_is_kept() -> None:
    explicit = params(90, depth="quick")

    assert choose_depth(request("everything", explicit), explicit, ["energy"]) == (
        "quick",
        "set by the caller",
    )


async def test_the_planning_event_carries_the_depth() -> None:
    orchestrator = DSOrchestrator(StaticDirectory(), lambda: START, "Europe/Berlin")
    stream = orchestrator.stream(
        request("How much energy did I use yesterday?", params(1)).model_copy(
            update={"analysts": ["energy"]}
        )
    )

    planning = await anext(stream)
    await stream.aclose()

    assert isinstance(planning, StatusEvent)
    assert planning.stage is Stage.PLANNING
    assert planning.data["depth"] == "quick"
    assert "depth quick" in planning.message
