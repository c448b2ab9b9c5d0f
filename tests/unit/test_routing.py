import pytest

from aether.agents.contract import AgentName
from aether.agents.intent import read_intent
from aether.agents.router import route_by_keywords


def test_energy_question_needs_only_the_energy_analyst() -> None:
    intent = read_intent("How much energy did I use last week, and what is my baseload?")
    assert intent.analysts() == ["energy"]


def test_general_analysis_request_runs_the_whole_team() -> None:
    assert read_intent("Analyze my energy usage").analysts() == [
        "energy",
        "behavioral",
        "diagnostic",
    ]


def test_short_words_match_whole_words_only() -> None:
    # "ev" must not match "every"/"evening"; "use" must not match "house".
    intent = read_intent("Which lights are on every evening in the house?")
    assert "energy" not in intent.topics
    assert intent.analysts() == ["behavioral"]


@pytest.mark.parametrize("text", ["hi", "Hello!", "thanks", "What can you do?"])
def test_smalltalk_needs_no_analysis(text: str) -> None:
    intent = read_intent(text)
    assert intent.smalltalk
    assert not intent.needs_analysis


def test_router_sends_sensor_health_questions_to_the_diagnostic_analyst() -> None:
    decision = route_by_keywords("Are any of my sensors stale or missing data?")
    assert decision.agent is AgentName.DIAGNOSTIC_ANALYST
    assert "stale" in decision.reason


def test_router_sends_energy_questions_to_the_architect_with_a_reason() -> None:
    decision = route_by_keywords("What is my peak demand and baseload?")
    assert decision.agent is AgentName.ARCHITECT
    assert "energy" in decision.reason
    assert 0.6 <= decision.confidence <= 0.95
