"""The architect's answer without an LLM: Markdown that narrates the real findings.

Layout, as an expert would write it: a direct answer to what was asked (the summaries of the
findings that answer the question, naming the period once), the other key figures as bullets
(friendly device names, days and clock times as people say them, one bullet per kind of finding),
the data-quality caveats, and one sentence on how confident the answer is and why.
The LLM prompt helpers live in `aether.llm.prompts` and are re-exported here for callers that
choose between the two writers in one place.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Final

from pydantic import BaseModel, Field

from aether.analysis.findings import Finding, Metric
from aether.llm.formatting import (
    capitalise,
    day_series_text,
    ensure_sentence,
    entity_label,
    format_confidence,
    format_day_range,
    format_period,
    format_quantity,
    format_when,
    hour_profile_text,
    humanize_name,
    is_clock,
    is_count,
    metric_day,
    metric_hour,
    metric_value,
)
from aether.llm.prompts import architect_system_prompt, findings_context
from aether.llm.topics import Topic, answering, matching, question_topics

__all__ = [
    "DataCoverage",
    "architect_system_prompt",
    "artifacts_line",
    "findings_context",
    "write_answer",
    "write_capabilities",
    "write_greeting",
]

LOW_CONFIDENCE: Final = 0.6
"""Below this, a finding's figures are flagged as uncertain."""
HIGH_CONFIDENCE: Final = 0.8
"""From this on, confidence reads "high"; between the two it reads "medium"."""
_MAX_FIGURES: Final = 5
_MAX_CAVEATS: Final = 4
_MAX_METRICS: Final = 5
_MAX_DEVICES: Final = 4
_MAX_ENTITIES: Final = 3
_OVERVIEW_DIAGNOSTICS: Final = frozenset({"quality_summary", "coverage"})
"""Diagnostic findings that sum up the others rather than report a problem of one sensor."""
_UNDERCOUNTING: Final[Mapping[str, str]] = {
    "unavailable_time": "was unavailable for {}",
    "gap_time": "had gaps of {}",
    "silent_time": "stopped reporting {} before the end",
    "uncovered_time": "had no usable readings for {}",
}
"""Metrics (in hours) of time without readings, and how to say it: energy over that time is
missing, so figures that include the sensor come out low."""
_SUBJECT_NAMES: Final = frozenset({"energy", "share", "value", "power"})
"""Metric names that say nothing once the device is named ("Heat pump 67.5 kWh (38 %)")."""
_OF_TOTAL: Final = ("eligible", "observed")
"""Names of count metrics that are the base of the count before them (5 of 7 days)."""
ARTIFACTS_PATH: Final = "/api/v1/artifacts"
"""Where the gateway serves a job's charts and tables, by id."""
_NUMBER_WORDS: Final = ("No", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight")

EXAMPLE_QUESTIONS: Final = (
    "How much electricity did I use last week, and what is my baseload?",
    "When is my peak demand, and which devices cause it?",
    "Was there anything unusual in my consumption this month?",
    "Are there gaps or broken sensors in my data?",
    "What do my daily and weekly patterns look like?",
)


class DataCoverage(BaseModel):
    """What data exists, so an empty answer can point to a period that has some."""

    start: datetime | None = None
    end: datetime | None = None
    entities: list[str] = Field(default_factory=list)
    """Entity ids of the energy and power sensors (shown with their friendly names)."""


def write_answer(
    question: str,
    findings: Sequence[Finding],
    window_label: str | None,
    *,
    entity_names: Mapping[str, str] | None = None,
    tz: tzinfo | None = None,
    coverage: DataCoverage | None = None,
) -> str:
    """Answer `question` from `findings` for the window called `window_label` (e.g. "last 7 days").

    `entity_names` maps entity ids to friendly names; `tz` is the zone periods are shown in.
    """
    names = entity_names or {}
    if not findings:
        return _no_data(window_label, coverage, names, tz)
    ranked = sorted(findings, key=lambda f: (-f.importance, -f.confidence))
    main_period = _main_period(ranked)
    writer = _Writer(ranked, names, tz, main_period, _Period.of(window_label, main_period, tz))
    downloads = artifacts_line(findings)
    answer = writer.write(question)
    return f"{answer}\n\n{downloads}" if downloads else answer


def artifacts_line(findings: Sequence[Finding]) -> str:
    """`Charts and tables: [daily_consumption.svg](/api/v1/artifacts/<id>), ...`: the job's
    charts and tables, linked once each from the end of the answer, so that readers find the
    figures behind it (the runner links them from the findings' evidence)."""
    links: dict[str, str] = {}
    for evidence in (e for f in findings for e in f.evidence):
        artifact, name = evidence.data.get("artifact_id"), evidence.data.get("name")
        if isinstance(artifact, str) and isinstance(name, str):
            links.setdefault(artifact, f"[{name}]({ARTIFACTS_PATH}/{artifact})")
    return f"Charts and tables: {', '.join(links.values())}" if links else ""


def write_greeting() -> str:
    """The reply to a greeting or small talk: who Aether is and what to ask."""
    return (
        "Hi, I'm **Aether**. I analyse your household's energy data from Home Assistant "
        "and answer in plain numbers: consumption, baseload, peaks, patterns and data quality.\n\n"
        + _examples()
    )


def write_capabilities() -> str:
    """The reply to "what can you do?": the kinds of questions and what comes back."""
    return (
        "**What I can answer**\n"
        "- **Consumption**: totals per day, week or month, per meter or device (kWh).\n"
        "- **Baseload**: the always-on power of your home (W) and the energy it adds up to.\n"
        "- **Peaks**: when demand is highest and which devices drive it (W, kW).\n"
        "- **Patterns**: daily and weekly profiles, recurring routines, weekday vs weekend.\n"
        "- **Anomalies**: days or hours that stand out from your usual consumption.\n"
        "- **Data quality**: gaps, stuck or missing sensors, and how far the figures can be "
        "trusted.\n"
        "- **Automations**: I can propose Home Assistant automations; nothing is applied "
        "until you approve it.\n\n" + _examples()
    )


def _examples() -> str:
    return "**Try for example**\n" + "\n".join(f"- {q}" for q in EXAMPLE_QUESTIONS)


@dataclass
class _Period:
    """The analysis window: said in full once, in the opening, and referred back to afterwards.

    Every finding's summary names the window ("in last week (16 Nov 2026–22 Nov 2026)"); read one
    after the other they would repeat it in every sentence."""

    full: str
    back: str
    """How later sentences refer to it: "that week", "the period"."""
    pattern: re.Pattern[str] | None
    """The label as the summaries write it, with its dates; None when there is no label."""
    said: bool = False

    @classmethod
    def of(
        cls, label: str | None, main_period: tuple[datetime, datetime] | None, tz: tzinfo | None
    ) -> _Period:
        shown = _display_label(label, main_period, tz)
        pattern = _label_pattern(label) if label else None
        return cls(full=shown, back=_back_reference(shown), pattern=pattern)

    def mention(self, found: str = "") -> str:
        """The full label the first time, the back reference after that.

        `found` is the label as a summary wrote it: when the label has no dates of its own
        ("the last 24 hours"), the summary's copy carries the dates the analysts added."""
        if self.said:
            return self.back
        self.said = True
        if "(" in found and "(" not in self.full:
            self.full = self.full[:1] + found[1:]
        return self.full

    def with_in(self, found: str = "") -> str:
        """`in last week (...)`, `in that week`; but `yesterday`, not `in yesterday`."""
        phrase = self.mention(found)
        return phrase if _is_day_word(phrase) else f"in {phrase}"

    def rewrite(self, text: str) -> str:
        """`text` (finding summaries) with the label in full only where it is said first."""
        pattern = self.pattern
        if pattern is None:
            return text
        sentences = re.split(r"(?<=[.!?])\s+", text.strip())
        return " ".join(self._sentence(s, pattern) for s in sentences)

    def _sentence(self, sentence: str, pattern: re.Pattern[str]) -> str:
        match = pattern.match(sentence)
        if match is None:
            return pattern.sub(self._inside, sentence)
        lead = self._lead(match.group("label"), had_in=bool(match.group("in")))
        rest = pattern.sub(self._inside, sentence[match.end() :].lstrip(", "))
        return capitalise(f"{lead} {rest}" if lead else rest)

    def _lead(self, found: str, *, had_in: bool) -> str:
        """A sentence that opens with the window ("In last week (...) X", "The last 7 days
        (...) you used"): said in full the first time, "That week you used" later, and "In
        <window>" dropped once the reader knows the window."""
        if self.said and had_in:
            return ""
        phrase = self.mention(found)
        if _is_day_word(phrase) or not (had_in or phrase.startswith("the ")):
            return phrase
        return f"In {phrase}"

    def _inside(self, match: re.Match[str]) -> str:
        found = match.group("label")
        return self.with_in(found) if match.group("in") else self.mention(found)


@dataclass(frozen=True)
class _Phrase:
    """One figure in words: `share 38 %`; `extras` are said with it in brackets (`(33 %)`)."""

    label: str
    value: str
    extras: tuple[str, ...] = ()

    @property
    def head(self) -> str:
        return f"{self.label} {self.value}" if self.label else self.value

    @property
    def text(self) -> str:
        return self.head + (f" ({', '.join(self.extras)})" if self.extras else "")


@dataclass
class _Writer:
    """Writes one answer; remembers what it has said so that nothing is said twice."""

    ranked: list[Finding]
    names: Mapping[str, str]
    tz: tzinfo | None
    main_period: tuple[datetime, datetime] | None
    period: _Period
    named_sources: set[tuple[str, ...]] = field(default_factory=set)

    def write(self, question: str) -> str:
        asked = question_topics(question)
        headline = answering(self.ranked, question, self.names)
        if _asks_quality(asked) and _issues(headline):
            # The verdict names the sensors with problems; the overview would say it again.
            headline = [f for f in headline if f.kind not in _OVERVIEW_DIAGNOSTICS]
        sections = [self._direct_answer(asked, headline)]
        if not headline:
            headline = self._fallback()
        groups = self._figure_groups(headline)
        if groups:
            bullets = "\n".join(self._bullet(group) for group in groups)
            sections.append(f"**Key figures — {self.period.full}**\n{bullets}")
        caveats = self._caveats(asked, headline)
        if caveats:
            sections.append("**Data quality**\n" + "\n".join(caveats))
        confidence = self._confidence(headline, [f for group in groups for f in group])
        if confidence:
            sections.append(confidence)
        return capitalise("\n\n".join(sections))

    # The direct answer

    def _direct_answer(self, asked: list[Topic], headline: list[Finding]) -> str:
        missing = [_missing_topic(t) for t in asked if not matching(self.ranked, [t])]
        if not headline and missing:
            # Nothing answers the question itself: say so first, then offer what there is.
            found = f"Here is what I found for {self.period.mention()}:"
            return " ".join([*missing, found, self._summaries(self._fallback())])
        opening = self._quality_opening() if _asks_quality(asked) else ""
        text = " ".join(p for p in (opening, self._summaries(headline or self._fallback())) if p)
        if not self.period.said:
            text = f"**{capitalise(self.period.mention())}:** {capitalise(text)}"
        return " ".join([text, *missing])

    def _fallback(self) -> list[Finding]:
        """When no finding answers the question: the two most important figures."""
        return ([f for f in self.ranked if f.analyst != "diagnostic"] or self.ranked)[:2]

    def _summaries(self, findings: list[Finding]) -> str:
        return self.period.rewrite(" ".join(ensure_sentence(f.summary) for f in findings))

    def _quality_opening(self) -> str:
        """The verdict a sensor check asks for before the details: which sensors need
        attention, or that none does."""
        if not any(f.analyst == "diagnostic" for f in self.ranked):
            return ""
        sensors = list(dict.fromkeys(e for f in _issues(self.ranked) for e in f.entities))
        if not sensors:
            return f"I found no problems with your sensors {self.period.with_in()}."
        one = len(sensors) == 1
        return (
            f"{_count_word(len(sensors))} {'sensor needs' if one else 'sensors need'} attention "
            f"{self.period.with_in()}: {_and_list([self._name(e) for e in sensors])}."
        )

    # Key figures

    def _figure_groups(self, headline: list[Finding]) -> list[list[Finding]]:
        """What the direct answer has not said, most important first, one bullet per group:
        one-device findings of one kind (three routines) share a bullet."""
        groups: dict[tuple[str, str], list[Finding]] = {}
        for finding in self.ranked:
            if finding.analyst == "diagnostic" or finding in headline:
                continue
            key = (finding.kind, finding.title) if _one_device(finding) else (str(id(finding)), "")
            if key in groups:
                groups[key].append(finding)
            elif len(groups) < _MAX_FIGURES:
                groups[key] = [finding]
        return list(groups.values())

    def _bullet(self, group: list[Finding]) -> str:
        first = group[0]
        if _one_device(first):
            return f"- **{first.title}**: {_join_items([self._device_text(f) for f in group])}"
        text = self._figures_text(first) or self.period.rewrite(ensure_sentence(first.summary))
        return f"- **{first.title}**: {text}{self._source(first, text)}{self._when(first)}"

    def _device_text(self, finding: Finding) -> str:
        """`Coffee machine around 07:02 (on 5 of 5 days, spread 6 min)`, and the confidence
        when it is low."""
        phrases = self._phrases(finding.metrics[:_MAX_METRICS], finding.title, subject=True)
        if finding.confidence < LOW_CONFIDENCE:
            phrases.append(_Phrase("", _uncertain(finding)))
        return _with_subject(self._name(finding.entities[0]), phrases)

    def _figures_text(self, finding: Finding) -> str:
        """The finding's metrics in words: a day series as days, an hourly profile as its shape,
        per-device figures after the device's name, the rest as "name value"."""
        own = finding.entities[0] if len(finding.entities) == 1 else None
        days = [(d, m) for m in finding.metrics if (d := metric_day(m)) is not None]
        hours = {h: m for m in finding.metrics if (h := metric_hour(m)) is not None}
        rest = [m for m in finding.metrics if metric_day(m) is None and metric_hour(m) is None]
        parts = [day_series_text(days)] if days else []
        if hours:
            unit = next(iter(hours.values())).unit
            parts.append(hour_profile_text({h: m.value for h, m in hours.items()}, unit))
        parts.extend(self._device_parts(rest, own, finding.title))
        general = [m for m in rest if m.entity_id in (None, own)][:_MAX_METRICS]
        parts.extend(p.text for p in self._phrases(general, finding.title, subject=False))
        text = "; ".join(parts)
        if text and finding.confidence < LOW_CONFIDENCE:
            text += f" ({_uncertain(finding)})"
        return text

    def _device_parts(self, metrics: list[Metric], own: str | None, title: str) -> list[str]:
        """`Heat pump 67.5 kWh (38 %), EV charger 50.9 kWh (29 %)`: metrics that repeat per
        device, said after the device's name instead of "heat pump energy; heat pump share"."""
        by_device: dict[str, list[Metric]] = {}
        for metric in metrics:
            if metric.entity_id is not None and metric.entity_id != own:
                by_device.setdefault(metric.entity_id, []).append(metric)
        if not by_device:
            return []
        shown = [
            _with_subject(self._name(device), self._phrases(group, title, subject=True))
            for device, group in list(by_device.items())[:_MAX_DEVICES]
        ]
        more = len(by_device) - len(shown)
        return [_join_items(shown) + (f" and {more} more" if more else "")]

    def _phrases(self, metrics: list[Metric], title: str, *, subject: bool) -> list[_Phrase]:
        """Metrics as phrases: `5 switch-ons`, `around 07:02`, `on 5 of 7 days`, `share 38 %`.

        A name the title already says is left out, and so is a generic one ("energy") when a
        device is the subject; a metric named like the one before is said with it."""
        phrases: list[_Phrase] = []
        for metric, base in _paired(metrics):
            label = _label(metric, title, subject=subject)
            if base is not None:
                phrase = _Phrase("", f"on {_part_of(metric, base)}")
            elif is_clock(metric):
                phrase = _Phrase("", f"around {metric_value(metric)}")
            elif is_count(metric.unit) and label:
                phrase = _Phrase("", f"{metric_value(metric)} {label}")
            else:
                when = "" if metric.at is None else f" on {format_when(metric.at, self.tz)}"
                phrase = _Phrase(label, metric_value(metric) + when)
            if phrases and phrase.label and phrase.label == phrases[-1].label:
                last = phrases[-1]
                phrases[-1] = _Phrase(last.label, last.value, (*last.extras, phrase.value))
            else:
                phrases.append(phrase)
        return phrases

    def _source(self, finding: Finding, text: str) -> str:
        """The finding's devices, unless the text names any of them or an earlier bullet did."""
        shown = tuple(finding.entities)
        named = any(e in text or self.names.get(e, e) in text for e in shown)
        if not shown or named or shown in self.named_sources:
            return ""
        self.named_sources.add(shown)
        labels = [self._name(e) for e in shown[:_MAX_ENTITIES]]
        more = len(shown) - len(labels)
        return " — " + ", ".join(labels) + (f" and {more} more" if more else "")

    def _when(self, finding: Finding) -> str:
        if finding.period_start is None or finding.period_end is None:
            return ""
        if (finding.period_start, finding.period_end) == self.main_period:
            return ""
        return f" ({format_period(finding.period_start, finding.period_end, self.tz)})"

    # Data quality and confidence

    def _caveats(self, asked: list[Topic], headline: list[Finding]) -> list[str]:
        """Sensor problems not told yet; the overview of all sensors only for a sensor check."""
        diagnostics = [f for f in self.ranked if f.analyst == "diagnostic" and f not in headline]
        if not _asks_quality(asked):
            diagnostics = [f for f in diagnostics if f.kind not in _OVERVIEW_DIAGNOSTICS]
        lines = []
        for finding in diagnostics[:_MAX_CAVEATS]:
            summary = self.period.rewrite(ensure_sentence(finding.summary))
            source = self._source(finding, summary)
            # "Data quality: Data quality in the period: ..." would say the title twice.
            said = summary.lower().startswith(finding.title.lower())
            title = "" if said else f"**{finding.title}**: "
            lines.append(f"- {title}{summary}{source}{self._when(finding)}")
        return lines

    def _confidence(self, headline: list[Finding], figures: list[Finding]) -> str:
        """`Confidence: high (95 %); <why>.`, said once: how far the direct answer can be
        trusted, and which data problems touch the figures the answer shows."""
        basis = [f for f in headline if f.metrics and f.analyst != "diagnostic"]
        basis = basis or [f for f in figures if f.metrics][:1]
        if not basis:
            return self._observed_confidence(headline)
        weakest = min(basis, key=lambda f: f.confidence)
        reasons = []
        if weakest.confidence < HIGH_CONFIDENCE:
            reasons.append(self._weak_reason(weakest))
        shown = {e for f in [*basis, *figures] for e in _entities(f)}
        reasons.append(self._data_reason(shown, default=not reasons))
        reason = "; ".join(r for r in reasons if r)
        level = f"{_confidence_word(weakest.confidence)} ({format_confidence(weakest.confidence)})"
        return f"Confidence: {level}; {reason}." if reason else f"Confidence: {level}."

    def _observed_confidence(self, headline: list[Finding]) -> str:
        """A sensor check reports what is in the recorded states; its confidence says so."""
        observed = [f for f in headline if f.metrics]
        if not observed:
            return ""
        level = min(f.confidence for f in observed)
        return (
            f"Confidence: {_confidence_word(level)} ({format_confidence(level)}); these problems "
            "are read directly from the recorded states."
        )

    def _weak_reason(self, finding: Finding) -> str:
        """Why a figure is uncertain: a pattern seen on only part of the days, or missing data."""
        of = next((_part_of(m, b) for m, b in _paired(finding.metrics) if b is not None), None)
        if of is not None and finding.entities:
            return f"the pattern of {self._name(finding.entities[0])} held on only {of}"
        return "the readings cover only part of the period"

    def _data_reason(self, shown: set[str], *, default: bool) -> str:
        """Which sensor problems make the figures shown less exact, or that none do."""
        problems = self._problems()
        affecting = [text for entity, text in problems.items() if entity in shown]
        if affecting:
            their = "its figures are" if len(affecting) == 1 else "their figures are"
            return f"{_and_list(affecting[:2])}, so {their} slightly low"
        if _issues(self.ranked):
            return "the sensor problems listed above do not affect these figures"
        if any(f.analyst == "diagnostic" for f in self.ranked):
            return "no gaps or sensor faults were found"
        return "the readings cover the period" if default else ""

    def _problems(self) -> dict[str, str]:
        """Sensor -> what went missing ("Heat pump was unavailable for 6.0 h"); the diagnostic
        analyst's words first, as it says it most precisely."""
        found: dict[str, str] = {}
        ordered = sorted(self.ranked, key=lambda f: f.analyst != "diagnostic")
        for metric in (m for f in ordered for m in f.metrics):
            template = _UNDERCOUNTING.get(metric.name)
            entity = metric.entity_id
            if template and entity and entity not in found and metric.value > 0:
                hours = format_quantity(metric.value, metric.unit)
                found[entity] = f"{self._name(entity)} {template.format(hours)}"
        return found

    def _name(self, entity_id: str) -> str:
        return entity_label(entity_id, self.names)


def _paired(metrics: list[Metric]) -> Iterator[tuple[Metric, Metric | None]]:
    """Each metric with the count it is a part of (support days with eligible days); the base
    itself is not yielded on its own."""
    index = 0
    while index < len(metrics):
        metric = metrics[index]
        after = metrics[index + 1] if index + 1 < len(metrics) else None
        base = after if after is not None and _is_base_of(after, metric) else None
        yield metric, base
        index += 2 if base is not None else 1


def _is_base_of(base: Metric, part: Metric) -> bool:
    return is_count(base.unit) and is_count(part.unit) and any(w in base.name for w in _OF_TOTAL)


def _part_of(part: Metric, base: Metric) -> str:
    """`5 of 7 days`: the unit noun from the base's name (`eligible_days`)."""
    words = humanize_name(base.name, base.unit).split()
    noun = " ".join(w for w in words if w not in _OF_TOTAL) or "times"
    return f"{metric_value(part)} of {metric_value(base)} {noun}"


def _label(metric: Metric, title: str, *, subject: bool) -> str:
    """The metric's name without the words the title opens with ("baseload share" under
    "Always-on baseload" is "share"), and none for a generic name after a device's name."""
    words = humanize_name(metric.name, metric.unit).split()
    title_words = set(re.findall(r"[^\W_]+", title.lower()))
    while words and words[0].lower() in title_words:
        words.pop(0)
    label = " ".join(words)
    return "" if subject and label.lower() in _SUBJECT_NAMES else label


def _with_subject(name: str, phrases: list[_Phrase]) -> str:
    """`Heat pump 67.5 kWh (38 %)`: the first figure after the name, the others in brackets."""
    if not phrases:
        return name
    first, *others = phrases
    extras = [*first.extras, *(p.text for p in others)]
    return f"{name} {first.head}" + (f" ({', '.join(extras)})" if extras else "")


def _uncertain(finding: Finding) -> str:
    return f"confidence only {format_confidence(finding.confidence)}"


def _join_items(items: list[str]) -> str:
    """Commas between items, or semicolons when the items have commas of their own."""
    return ("; " if any(", " in item for item in items) else ", ").join(items)


def _and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _count_word(count: int) -> str:
    return _NUMBER_WORDS[count] if count < len(_NUMBER_WORDS) else str(count)


def _confidence_word(confidence: float) -> str:
    if confidence >= HIGH_CONFIDENCE:
        return "high"
    return "medium" if confidence >= LOW_CONFIDENCE else "low"


def _one_device(finding: Finding) -> bool:
    """A finding about one device only; such findings of one kind share one bullet."""
    device = finding.entities[0] if len(finding.entities) == 1 else None
    return (
        device is not None
        and bool(finding.metrics)
        and all(m.entity_id == device for m in finding.metrics)
    )


def _entities(finding: Finding) -> set[str]:
    return set(finding.entities) | {m.entity_id for m in finding.metrics if m.entity_id}


def _issues(findings: list[Finding]) -> list[Finding]:
    """Problems of single sensors, without the diagnostic overviews."""
    return [
        f for f in findings if f.analyst == "diagnostic" and f.kind not in _OVERVIEW_DIAGNOSTICS
    ]


def _asks_quality(asked: list[Topic]) -> bool:
    return any(topic.name == "quality" for topic in asked)


def _missing_topic(topic: Topic) -> str:
    if topic.name == "quality":
        return "No data-quality problems were reported for this period."
    return f"I have no figures on {topic.phrase} for this period."


def _display_label(
    label: str | None, main_period: tuple[datetime, datetime] | None, tz: tzinfo | None
) -> str:
    """The window as the answer names it: its label with compact dates ("last week
    (16–22 Nov 2026)"), or the dates alone when there is no label."""
    days = format_day_range(*main_period, tz) if main_period and tz is not None else None
    if label:
        name, bracket, _ = label.partition(" (")
        return f"{name} ({days})" if bracket and days else label
    if main_period is not None:
        return days or format_period(*main_period, tz)
    return "the analysed period"


def _label_pattern(label: str) -> re.Pattern[str]:
    """The label where a summary names it, with the dates the analysts add to a bare label."""
    dates = "" if "(" in label else r"(?:\s\([^()]*\))?"
    return re.compile(rf"(?P<in>\bin\s+)?(?P<label>{re.escape(label)}{dates})", re.IGNORECASE)


def _back_reference(label: str) -> str:
    head = label.lower()
    for prefix, back in (
        ("last week", "that week"),
        ("last month", "that month"),
        ("this week", "this week"),
        ("this month", "this month"),
        ("yesterday", "yesterday"),
        ("today", "today"),
    ):
        if head.startswith(prefix):
            return back
    return "the period"


def _is_day_word(phrase: str) -> bool:
    """ "Yesterday" and "today" take no "in"."""
    return phrase.lower().startswith(("yesterday", "today"))


def _main_period(findings: list[Finding]) -> tuple[datetime, datetime] | None:
    """The period most findings cover: the analysis window, stated once instead of per bullet."""
    periods: Counter[tuple[datetime, datetime]] = Counter(
        (f.period_start, f.period_end)
        for f in findings
        if f.period_start is not None and f.period_end is not None
    )
    return periods.most_common(1)[0][0] if periods else None


def _no_data(
    window_label: str | None,
    coverage: DataCoverage | None,
    names: Mapping[str, str],
    tz: tzinfo | None,
) -> str:
    period = f"**{window_label}**" if window_label else "the requested period"
    lines = [f"I found no energy data for {period}, so I can't give any figures for it."]
    if coverage is not None and coverage.start is not None and coverage.end is not None:
        available = f"Data is available for {format_period(coverage.start, coverage.end, tz)}"
        if coverage.entities:
            sensors = ", ".join(entity_label(e, names) for e in coverage.entities[:5])
            more = len(coverage.entities) - min(len(coverage.entities), 5)
            available += f" from {sensors}" + (f" and {more} more sensors" if more else "")
        lines.append(f"{available}: ask about a period within that range.")
    elif coverage is not None:
        lines.append(
            "No energy (kWh) or power (W) sensors are available yet: connect Home Assistant "
            "or import a CSV/Parquet export."
        )
    else:
        lines.append(
            "Try a longer or more recent period (for example “last 30 days”), and check that "
            "Home Assistant records your energy (kWh) or power (W) sensors."
        )
    return " ".join(lines)
