"""What a question asks about, and which findings answer it: keyword topics, no model needed.

The offline writer leads with the findings that match the question's topics, and says plainly
when a topic was asked about but no finding covers it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from aether.analysis.findings import AnalystName, Finding


@dataclass(frozen=True)
class Topic:
    name: str
    phrase: str
    """How the answer names the topic: "I have no figures on {phrase} ..."."""
    question: re.Pattern[str]
    finding_words: tuple[str, ...]
    analyst: AnalystName | None = None
    """Every finding of this analyst belongs to the topic."""
    vague: re.Pattern[str] | None = None
    """Words that ask for this topic only when no other topic is named ("how much" alone means
    consumption, "how much did the solar panels produce" does not)."""

    def matches(self, finding: Finding) -> bool:
        if self.analyst is not None and finding.analyst == self.analyst:
            return True
        haystack = f"{finding.kind} {finding.title}".lower()
        return any(word in haystack for word in self.finding_words)


def _words(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w])(?:" + "|".join(alternatives) + ")", re.IGNORECASE)


TOPICS: Final[tuple[Topic, ...]] = (
    Topic(
        "consumption",
        "total consumption",
        _words(r"consum", r"use[ds]?\b", r"usage"),
        ("consumption", "total", "usage", "energy use"),
        vague=_words(r"how much", r"total", r"kwh", r"energy"),
    ),
    Topic(
        "baseload",
        "baseload",
        _words(r"base ?load", r"standby", r"always[ -]on", r"idle", r"at night", r"overnight"),
        ("baseload", "base_load", "base load", "standby", "always_on", "always-on"),
    ),
    Topic(
        "peak",
        "peak demand",
        _words(r"peak", r"highest", r"maximum", r"max\b", r"most power"),
        ("peak", "maximum", "max_"),
    ),
    Topic(
        "anomaly",
        "unusual consumption",
        _words(r"anomal", r"unusual", r"spike", r"strange", r"odd\b", r"weird", r"outlier"),
        ("anomal", "spike", "unusual", "outlier"),
    ),
    Topic(
        "cost",
        "costs",
        _words(r"cost", r"price", r"tariff", r"bill", r"spend", r"money", r"cheap", r"expensive"),
        ("cost", "tariff", "price", "bill"),
    ),
    Topic(
        "device",
        "individual devices",
        _words(r"device", r"appliance", r"which ", r"biggest", r"top consumer", r"breakdown"),
        ("device", "appliance", "breakdown", "top_consumer", "consumer", "share"),
    ),
    Topic(
        "pattern",
        "usage patterns",
        _words(r"pattern", r"habit", r"routine", r"when do", r"profile", r"weekday", r"weekend"),
        ("pattern", "profile", "recurring", "routine", "habit", "schedule"),
        analyst="behavioral",
    ),
    Topic(
        "solar",
        "solar production",
        _words(r"solar", r"pv\b", r"feed[- ]in", r"export", r"self[- ]consumption", r"battery"),
        ("solar", "pv", "export", "feed_in", "self_consumption", "battery"),
    ),
    Topic(
        "quality",
        "data quality",
        _words(r"gaps?\b", r"missing", r"quality", r"broken", r"stuck", r"offline", r"reliab"),
        ("gap", "quality", "coverage", "stale", "stuck", "missing"),
        analyst="diagnostic",
    ),
)


def question_topics(question: str) -> list[Topic]:
    """Topics the question mentions, in the order of `TOPICS`."""
    named = [topic for topic in TOPICS if topic.question.search(question)]
    if named:
        return named
    return [topic for topic in TOPICS if topic.vague is not None and topic.vague.search(question)]


def matching(findings: list[Finding], topics: list[Topic]) -> list[Finding]:
    """The findings that belong to any of `topics`, in their given order."""
    return [f for f in findings if any(topic.matches(f) for topic in topics)]
