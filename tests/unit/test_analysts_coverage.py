"""Which questions the built-in analyses answer, and which analyst leads when they do not."""

from __future__ import annotations

import pytest

from aether.agents.analysts.coverage import lead_analyst, uncovered_ask


@pytest.mark.parametrize(
    "question",
    [
        "How much energy did I use last week?",
        "What is my baseload?",
        "When do I usually switch on the lights?",
        "Are my sensors OK? Any gaps in the data?",
        "What was my peak demand in March?",
        "How much did I use between 1 and 5 March?",
        "Which device used the most energy at night?",
        "Give me a full analysis of the last 3 months",
    ],
)
def test_questions_the_built_in_analyses_answer(question: str) -> None:
    assert uncovered_ask(question) is None


@pytest.mark.parametrize(
    ("question", "ask", "words"),
    [
        (
            "Is there a correlation between the outdoor temperature and the heat pump?",
            "a correlation",
            "correlation",
        ),
        ("What is the median daily consumption?", "a distribution statistic", "median"),
        (
            "What was the heat pump's average power between 22:00 and 06:00?",
            "a figure for a clock-time window",
            "22:00",
        ),
        ("How much did I use after 10 pm?", "a figure for a clock-time window", "10 pm"),
        (
            "How many hours was the EV charger above 2 kW?",
            "time or counts beyond a threshold",
            "above 2 kW",
        ),
        (
            "What was the average outdoor temperature last week?",
            "temperature or humidity statistics",
            "average outdoor temperature",
        ),
    ],
)
def test_asks_no_built_in_analysis_computes(question: str, ask: str, words: str) -> None:
    found = uncovered_ask(question)

    assert found is not None
    assert found.ask.startswith(ask)
    assert found.words == words


def test_the_lead_analyst_is_the_one_the_question_is_most_about() -> None:
    question = "Did the lights stay on overnight, and what is the median of the energy use?"

    assert lead_analyst(question, ["energy", "behavioral"]) == "behavioral"
    assert lead_analyst(question, ["energy"]) == "energy"
    assert lead_analyst("What is the median?", ["diagnostic", "energy"]) == "energy"
    assert lead_analyst("anything", []) is None
