"""What a question asks about, and which findings answer it: keyword topics, no model needed.

The offline writer leads with the findings that match the question's topics (about the devices
the question names, when it names any), and says plainly when a topic was asked about but no
finding covers it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
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
    answers: int = 1
    """How many findings answer the topic: one total answers "how much", but every sensor
    problem answers "are my sensors ok"."""

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
        _words(
            r"gaps?\b",
            r"missing",
            r"quality",
            r"broken",
            r"stuck",
            r"offline",
            r"reliab",
            r"sensors?\b",
            r"faulty",
            r"healthy",
        ),
        ("gap", "quality", "coverage", "stale", "stuck", "missing"),
        analyst="diagnostic",
        answers=3,
    ),
)
_OVERVIEW: Final = _words(
    r"analy[sz]", r"overview", r"summar", r"report", r"insight", r"tell me about", r"how is my"
)
"""Requests for the big picture rather than for one figure."""
_MAX_ANSWERING: Final = 3
_GENERIC_NAME_WORDS: Final = frozenset(
    {"sensor", "power", "energy", "meter", "total", "consumption", "usage", "daily", "state"}
)
"""Words of device names that say nothing about which device is meant ("Solar power")."""


def question_topics(question: str) -> list[Topic]:
    """Topics the question mentions, in the order of `TOPICS`."""
    named = [topic for topic in TOPICS if topic.question.search(question)]
    if named:
        return named
    return [topic for topic in TOPICS if topic.vague is not None and topic.vague.search(question)]


def matching(findings: list[Finding], topics: list[Topic]) -> list[Finding]:
    """The findings that belong to any of `topics`, in their given order."""
    return [f for f in findings if any(topic.matches(f) for topic in topics)]


def is_overview(question: str) -> bool:
    return bool(_OVERVIEW.search(question))


def answering(ranked: list[Finding], question: str, names: Mapping[str, str]) -> list[Finding]:
    """The findings that answer `question` directly, from `ranked` (best first).

    Per topic asked, its best finding (its best few for topics such as data quality); about the
    devices the question names when it names any ("when do I switch on the lights" is about the
    lights, not the coffee machine). A request for an overview adds the overall highlights.
    """
    devices = mentioned_entities(question, _entities_of(ranked), names)
    chosen: list[Finding] = []
    for topic in question_topics(question):
        candidates = [f for f in ranked if topic.matches(f) and f not in chosen]
        chosen.extend(_best(candidates, topic.answers, devices))
    if devices and not chosen:
        chosen = _best(ranked, len(devices), devices)
    if is_overview(question):
        chosen.extend(_highlights(ranked, chosen))
    return chosen[:_MAX_ANSWERING]


def mentioned_entities(
    question: str, entity_ids: Iterable[str], names: Mapping[str, str]
) -> list[str]:
    """The entities whose name (friendly or id) shares a distinctive word with the question."""
    asked = _name_words(question)
    return [
        entity_id
        for entity_id in entity_ids
        if (_name_words(names.get(entity_id, "")) | _name_words(entity_id.split(".", 1)[-1]))
        & asked
    ]


def about(finding: Finding, entity_ids: Iterable[str]) -> bool:
    """Whether the finding concerns any of `entity_ids` (as a whole or through a metric)."""
    wanted = set(entity_ids)
    return bool(wanted & set(finding.entities)) or any(
        m.entity_id in wanted for m in finding.metrics
    )


def _best(candidates: list[Finding], count: int, devices: list[str]) -> list[Finding]:
    """The first `count` candidates, or with named devices the best one about each device."""
    if not devices:
        return candidates[:count]
    chosen: list[Finding] = []
    for device in devices:
        best = next((f for f in candidates if about(f, [device]) and f not in chosen), None)
        if best is not None:
            chosen.append(best)
    return chosen or candidates[:count]


def _highlights(ranked: list[Finding], chosen: list[Finding]) -> list[Finding]:
    """The most important figures of kinds not chosen yet: one of each kind, no diagnostics."""
    kinds = {f.kind for f in chosen}
    picked: list[Finding] = []
    for finding in ranked:
        if finding.analyst != "diagnostic" and finding.kind not in kinds:
            picked.append(finding)
            kinds.add(finding.kind)
    return picked


def _entities_of(findings: list[Finding]) -> list[str]:
    seen: dict[str, None] = {}
    for finding in findings:
        seen.update(dict.fromkeys(finding.entities))
        seen.update(dict.fromkeys(m.entity_id for m in finding.metrics if m.entity_id))
    return list(seen)


def _name_words(text: str) -> set[str]:
    """Lower-case words, plural "s" dropped ("lights" names "Garden light"), generic ones out."""
    words = {
        w[:-1] if w.endswith("s") and len(w) > 3 else w
        for w in re.findall(r"[^\W_]+", text.lower())
    }
    return words - _GENERIC_NAME_WORDS
