"""Reads what a question is about from its words: which analyses it needs, how sure that is, or
that it needs none at all.

Used by the router, the architect and the orchestrator when no LLM is configured (and as the
fallback when the LLM fails), so every decision is explainable: the matched words are the reason.

Scoring: every cue has a weight — 3 for words that name the analysis (`baseload`, `stale`,
`routine`), 2 for clear topic words (`energy`, `sensor`, `light`), 1 for vague ones (`use`,
`data`). A request for an overview (`analyse`, `overview`, `report`, ...) adds 2 to every analyst.
An analyst's confidence is 1 − exp(−score / 2.5): one naming word gives 0.70, one vague word 0.33,
three clear words 0.91. An analyst is picked when its confidence is at least SELECT_THRESHOLD
(0.3) and at least RELATIVE_THRESHOLD (half) of the best analyst's, so one vague word ("data")
does not pull in a second analyst next to a clear topic.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Final

from aether.analysis.findings import AnalystName

_CUES: Final[dict[AnalystName, dict[str, int]]] = {
    "energy": {
        **dict.fromkeys(
            (
                "baseload",
                "base load",
                "standby",
                "always-on",
                "always on",
                "peak",
                "tariff",
                "kwh",
                "cost",
                "bill",
                "consum",
                "solar",
                "load profile",
                "top consumer",
            ),
            3,
        ),
        **dict.fromkeys(
            (
                "energy",
                "wh",
                "demand",
                "pv",
                "export",
                "import",
                "grid",
                "price",
                "heat pump",
                "ev",
                "charger",
                "charging",
                "power",
                "watt",
                "profile",
                "biggest",
                "saving",
                "save",
                "efficien",
                "usage",
                "electricity",
                "week over week",
                "unusual",
                "anomal",
                "spike",
                "weekend",
                "weekday",
            ),
            2,
        ),
        **dict.fromkeys(("use", "used", "most", "month", "week"), 1),
    },
    "behavioral": {
        **dict.fromkeys(("habit", "routine", "behavio", "automat", "left on", "recurring"), 3),
        **dict.fromkeys(
            (
                "pattern",
                "manual",
                "switch",
                "light",
                "schedule",
                "when do i",
                "every day",
                "coffee",
                "standby",
                "overnight",
                "idle",
            ),
            2,
        ),
        **dict.fromkeys(("night", "device", "appliance"), 1),
    },
    "diagnostic": {
        **dict.fromkeys(
            ("quality", "stale", "unavailable", "diagnos", "coverage", "gap", "missing data"),
            3,
        ),
        **dict.fromkeys(
            (
                "sensor",
                "missing",
                "broken",
                "offline",
                "reset",
                "wrong",
                "glitch",
                "health",
                "reliab",
                "duplicate",
                "faulty",
                "stuck",
            ),
            2,
        ),
        **dict.fromkeys(("data",), 1),
    },
}
_OVERVIEW: Final = ("analy", "overview", "report", "summar", "insight", "everything")
OVERVIEW_WEIGHT: Final = 2
SCORE_SCALE: Final = 2.5
SELECT_THRESHOLD: Final = 0.3
RELATIVE_THRESHOLD: Final = 0.5
ORDER: Final[tuple[AnalystName, ...]] = ("energy", "behavioral", "diagnostic")

_SMALLTALK = re.compile(
    r"^\s*(hi|hello|hey|hallo|good (morning|evening|afternoon)|thanks?( you)?|thank you|"
    r"who are you|what can you do|help)\b[\s!.?]*$",
    re.IGNORECASE,
)
_CAPABILITY = re.compile(r"\b(what can you|who are you|how do you work|help me)\b", re.I)


@dataclass(frozen=True)
class Intent:
    topics: dict[AnalystName, list[str]] = field(default_factory=dict)
    """Each analysis the question needs, with the words that showed it."""
    smalltalk: bool = False
    scores: dict[AnalystName, float] = field(default_factory=dict)
    """Confidence per analyst in [0, 1], also for analysts not picked (the router's view)."""

    @property
    def needs_analysis(self) -> bool:
        return bool(self.topics)

    @property
    def confidence(self) -> float:
        """How sure the pick is: the lowest confidence among the picked analysts."""
        return min((self.scores[a] for a in self.topics), default=0.0)

    def analysts(self) -> list[AnalystName]:
        """Needed analysts in a stable order; diagnostics last so they can qualify the rest."""
        return [name for name in ORDER if name in self.topics]

    def explain(self) -> str:
        """`energy 0.86 (baseload, energy); behavioral 0.00`: the scores and their words."""
        return "; ".join(
            f"{a} {self.scores.get(a, 0.0):.2f}"
            + (f" ({', '.join(self.topics[a])})" if a in self.topics else "")
            for a in ORDER
        )


def score(weight: float) -> float:
    return round(1.0 - math.exp(-weight / SCORE_SCALE), 3)


def read_intent(question: str) -> Intent:
    text = question.lower()
    if _SMALLTALK.match(text) or (_CAPABILITY.search(text) and len(text) < 80):
        return Intent(smalltalk=True)
    overview = [w for w in _OVERVIEW if _contains_word(text, w)]
    hits: dict[AnalystName, list[str]] = {}
    scores: dict[AnalystName, float] = {}
    for analyst, cues in _CUES.items():
        words = [w for w in cues if _contains_word(text, w)]
        weight = sum(cues[w] for w in words) + (OVERVIEW_WEIGHT if overview else 0)
        hits[analyst] = words + overview
        scores[analyst] = score(weight)
    best = max(scores.values())
    topics = {
        a: hits[a]
        for a in ORDER
        if scores[a] >= SELECT_THRESHOLD and scores[a] >= RELATIVE_THRESHOLD * best
    }
    return Intent(topics=topics, scores=scores)


def _contains_word(text: str, word: str) -> bool:
    """Prefix match for stems (`consum` finds `consumption`), whole words (or their plural) for
    short ones, so `use` does not find `house`, `ev` not `evening`, but `gap` finds `gaps`."""
    end = r"s?(?![a-z])" if len(word) <= 4 else ""
    return re.search(r"(?<![a-z])" + re.escape(word) + end, text) is not None
