"""Whether the built-in analyses answer a question, and which analyst answers it when they do not.

The built-in analyses (docs/analysis.md) compute fixed figures: totals per day, week and month,
hour-of-day profiles, baseload, peaks, routines, standby, data quality. Some questions ask for a
computation none of them makes: a correlation, a median or percentile, a figure for a clock-time
window ("between 22:00 and 06:00"), time beyond a threshold ("above 2 kW"), statistics of
temperatures. Each such ask is a pattern with the words that name it, so the decision is
explainable (the matched words are the reason) and needs no model. Only the lead analyst of the
team (the one the question is most about) has an analysis written for it, so one question costs
one script, not one per analyst.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from aether.agents.intent import ORDER, read_intent
from aether.analysis.findings import AnalystName

_CLOCK: Final = r"\d{1,2}(?::\d{2}\s*(?:am|pm|h)?|\s*(?:am|pm|o'clock)\b)"
_QUANTITY: Final = r"\d+(?:[.,]\d+)?\s*(?:kwh|kw|w|watts?|°c|degrees?|%)(?![a-z])"

UNCOVERED_ASKS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("a correlation", re.compile(r"\bcorrelat\w*|\brelationship between\b", re.I)),
    (
        "a distribution statistic (median, percentile, spread)",
        re.compile(
            r"\b(median|percentiles?|quantiles?|standard deviation|variance|histogram|"
            r"distribution)\b",
            re.I,
        ),
    ),
    ("a figure for a clock-time window", re.compile(_CLOCK, re.I)),
    (
        "time or counts beyond a threshold",
        re.compile(
            r"\b(above|below|over|under|more than|less than|exceed\w*|at least)\s+" + _QUANTITY,
            re.I,
        ),
    ),
    (
        "temperature or humidity statistics",
        re.compile(
            r"\b(average|mean|minimum|maximum|min|max|highest|lowest)\b(\s+\S+){0,3}\s+"
            r"(temperature|humidity)",
            re.I,
        ),
    ),
)


@dataclass(frozen=True)
class UncoveredAsk:
    """What the question asks that no built-in analysis computes, and the words that said so."""

    ask: str
    words: str


def uncovered_ask(question: str) -> UncoveredAsk | None:
    """The first ask of the question the built-in analyses do not answer, or None."""
    for ask, pattern in UNCOVERED_ASKS:
        match = pattern.search(question)
        if match is not None:
            return UncoveredAsk(ask=ask, words=match.group(0).strip())
    return None


def lead_analyst(question: str, team: Sequence[AnalystName]) -> AnalystName | None:
    """The team member the question is most about (the first in the usual order of equals)."""
    scores = read_intent(question).scores
    members = [a for a in ORDER if a in team]
    return max(members, key=lambda a: scores.get(a, 0.0), default=None)
