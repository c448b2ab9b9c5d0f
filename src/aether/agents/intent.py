"""Reads what a question is about from its words: which analyses it needs, or none at all.

Used by the router, the architect and the orchestrator when no LLM is configured (and as the
fallback when the LLM fails), so every decision is explainable: the matched words are the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aether.analysis.findings import AnalystName

_TOPIC_WORDS: dict[AnalystName, tuple[str, ...]] = {
    "energy": (
        "energy",
        "kwh",
        "wh",
        "consum",
        "use",
        "used",
        "usage",
        "baseload",
        "base load",
        "standby",
        "always-on",
        "always on",
        "peak",
        "demand",
        "solar",
        "pv",
        "export",
        "import",
        "grid",
        "cost",
        "bill",
        "tariff",
        "price",
        "heat pump",
        "ev",
        "charger",
        "charging",
        "power",
        "watt",
        "load profile",
        "profile",
        "biggest",
        "top consumer",
        "most",
        "saving",
        "save",
        "efficien",
        "analy",
    ),
    "behavioral": (
        "habit",
        "routine",
        "behavio",
        "pattern",
        "automat",
        "manual",
        "switch",
        "light",
        "left on",
        "night",
        "schedule",
        "when do i",
        "every day",
        "recurring",
        "coffee",
        "analy",
    ),
    "diagnostic": (
        "quality",
        "sensor",
        "missing",
        "gap",
        "stale",
        "unavailable",
        "broken",
        "offline",
        "reset",
        "wrong",
        "glitch",
        "diagnos",
        "health",
        "coverage",
        "reliab",
        "data",
        "analy",
    ),
}
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

    @property
    def needs_analysis(self) -> bool:
        return bool(self.topics)

    def analysts(self) -> list[AnalystName]:
        """Needed analysts in a stable order; diagnostics last so they can qualify the rest."""
        order: list[AnalystName] = ["energy", "behavioral", "diagnostic"]
        return [name for name in order if name in self.topics]


def read_intent(question: str) -> Intent:
    text = question.lower()
    if _SMALLTALK.match(text) or (_CAPABILITY.search(text) and len(text) < 80):
        return Intent(smalltalk=True)
    topics: dict[AnalystName, list[str]] = {}
    for analyst, words in _TOPIC_WORDS.items():
        hits = [word for word in words if _contains_word(text, word)]
        if hits:
            topics[analyst] = hits
    if _only_generic(topics):
        topics = {"energy": topics["energy"]}
    return Intent(topics=topics)


def _contains_word(text: str, word: str) -> bool:
    """Prefix match for stems (`consum` finds `consumption`), whole words for short ones, so
    `use` does not find `house` and `ev` does not find `evening`."""
    end = r"(?![a-z])" if len(word) <= 4 else ""
    return re.search(r"(?<![a-z])" + re.escape(word) + end, text) is not None


def _only_generic(topics: dict[AnalystName, list[str]]) -> bool:
    """`data` alone should not pull in the diagnostic analyst when energy words are there."""
    generic = {"data"}
    others = [name for name in topics if name != "energy"]
    return "energy" in topics and all(set(topics[name]) <= generic for name in others)
