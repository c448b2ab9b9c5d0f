"""The architect's answer without an LLM: Markdown that narrates the real findings.

Layout: a direct answer to what was asked (the summaries of the findings that match the
question), the key figures as bullets (value and unit, device, period), then data-quality caveats
(diagnostic findings and uncertain results). Everything is ordered by `Finding.importance`.
The LLM prompt helpers live in `aether.llm.prompts` and are re-exported here for callers that
choose between the two writers in one place.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Final

from pydantic import BaseModel, Field

from aether.analysis.findings import Finding, Metric
from aether.llm.formatting import (
    ensure_sentence,
    entity_label,
    format_confidence,
    format_moment,
    format_period,
    humanize_name,
    is_count,
    metric_value,
)
from aether.llm.prompts import architect_system_prompt, findings_context
from aether.llm.topics import Topic, matching, question_topics

__all__ = [
    "DataCoverage",
    "architect_system_prompt",
    "findings_context",
    "write_answer",
    "write_capabilities",
    "write_greeting",
]

LOW_CONFIDENCE: Final = 0.6
"""Below this, a finding's figures are flagged as uncertain."""
_MAX_HEADLINE: Final = 3
_MAX_FIGURES: Final = 8
_MAX_METRICS: Final = 5
_MAX_ENTITIES: Final = 3

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
    label = window_label or (format_period(*main_period, tz) if main_period else None)
    label = label or "the analysed period"

    sections = [_direct_answer(question, ranked, label)]
    figures = [f for f in ranked if f.analyst != "diagnostic"][:_MAX_FIGURES]
    if figures:
        bullets = [_figure_bullet(f, names, tz, main_period) for f in figures]
        sections.append(f"**Key figures — {label}**\n" + "\n".join(bullets))
    caveats = _caveats(ranked, names, tz, main_period)
    if caveats:
        sections.append("**Data quality**\n" + "\n".join(caveats))
    return "\n\n".join(sections)


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


def _direct_answer(question: str, ranked: list[Finding], label: str) -> str:
    asked = question_topics(question)
    matched = matching(ranked, asked)
    missing = [_missing_topic(topic) for topic in asked if not matching(ranked, [topic])]
    if matched:
        headline = matched[:_MAX_HEADLINE]
    else:
        headline = ([f for f in ranked if f.analyst != "diagnostic"] or ranked)[:2]
    text = " ".join(ensure_sentence(f.summary) for f in headline)
    if not matched and missing:
        # Nothing answers the question itself: say so first, then offer what there is.
        sentences = [*missing, f"Here is what I found for {label}: {text}"]
    elif label.lower() in text.lower():
        sentences = [text, *missing]
    else:
        sentences = [f"**{label[:1].upper()}{label[1:]}:** {text}", *missing]
    if any(f.confidence < LOW_CONFIDENCE for f in headline):
        sentences.append("Treat these figures with care: see the data-quality notes below.")
    return " ".join(sentences)


def _missing_topic(topic: Topic) -> str:
    if topic.name == "quality":
        return "No data-quality problems were reported for this period."
    return f"I have no figures on {topic.phrase} for this period."


def _figure_bullet(
    finding: Finding,
    names: Mapping[str, str],
    tz: tzinfo | None,
    main_period: tuple[datetime, datetime] | None,
) -> str:
    figures = _metrics_text(finding, names, tz) or ensure_sentence(finding.summary)
    where = _where(finding, names, figures)
    return f"- **{finding.title}**: {figures}{where}{_when(finding, tz, main_period)}"


def _metrics_text(finding: Finding, names: Mapping[str, str], tz: tzinfo | None) -> str:
    metrics = finding.metrics[:_MAX_METRICS]
    if not metrics:
        return ""
    distinct_names = len({m.name for m in metrics}) > 1
    own_entity = finding.entities[0] if len(finding.entities) == 1 else None
    title = finding.title.lower()
    parts = [
        _metric_text(m, distinct_names and not _said_by(title, m), own_entity, names, tz)
        for m in metrics
    ]
    more = len(finding.metrics) - len(metrics)
    return "; ".join(parts) + (f" (+{more} more)" if more else "")


def _metric_text(
    metric: Metric,
    show_name: bool,
    own_entity: str | None,
    names: Mapping[str, str],
    tz: tzinfo | None,
) -> str:
    label_parts = []
    if metric.entity_id and metric.entity_id != own_entity:
        label_parts.append(entity_label(metric.entity_id, names))
    value = metric_value(metric)
    if is_count(metric.unit):
        # "3 gaps" reads better than "gaps 3", and a bare count would mean nothing.
        value = f"{value} {humanize_name(metric.name, metric.unit)}"
    elif show_name:
        label_parts.append(humanize_name(metric.name, metric.unit))
    if metric.at is not None:
        value += f" at {format_moment(metric.at, tz)}"
    return f"{' '.join(label_parts)} {value}" if label_parts else value


def _said_by(title: str, metric: Metric) -> bool:
    """True when the title already names the metric ("Baseload" and `baseload_w`)."""
    return all(word in title for word in humanize_name(metric.name, metric.unit).lower().split())


def _where(finding: Finding, names: Mapping[str, str], text: str) -> str:
    """The finding's devices, unless `text` (what the bullet already says) names them."""
    if not finding.entities or all(e in text or names.get(e, e) in text for e in finding.entities):
        return ""
    shown = [entity_label(e, names) for e in finding.entities[:_MAX_ENTITIES]]
    more = len(finding.entities) - len(shown)
    return " — " + ", ".join(shown) + (f" and {more} more" if more else "")


def _when(
    finding: Finding, tz: tzinfo | None, main_period: tuple[datetime, datetime] | None
) -> str:
    if finding.period_start is None or finding.period_end is None:
        return ""
    if (finding.period_start, finding.period_end) == main_period:
        return ""
    return f" ({format_period(finding.period_start, finding.period_end, tz)})"


def _caveats(
    ranked: list[Finding],
    names: Mapping[str, str],
    tz: tzinfo | None,
    main_period: tuple[datetime, datetime] | None,
) -> list[str]:
    lines = []
    for finding in ranked:
        if finding.analyst == "diagnostic":
            summary = ensure_sentence(finding.summary)
            lines.append(
                f"- **{finding.title}**: {summary}"
                f"{_where(finding, names, summary)}{_when(finding, tz, main_period)}"
            )
        elif finding.confidence < LOW_CONFIDENCE:
            reason = (
                f" {ensure_sentence(finding.evidence[0].description)}" if finding.evidence else ""
            )
            lines.append(
                f"- **{finding.title}** is uncertain "
                f"(confidence {format_confidence(finding.confidence)}).{reason}"
            )
    return lines


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
