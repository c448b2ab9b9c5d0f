"""What the architect sends to an LLM: its system prompt and the findings as compact text.

The findings context carries every figure with its unit, period and confidence, so the model can
cite numbers instead of inventing them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import tzinfo

from aether.analysis.findings import Evidence, Finding, Metric
from aether.llm.formatting import (
    entity_label,
    format_confidence,
    format_day,
    format_moment,
    format_period,
    metric_day,
    metric_value,
)


def architect_system_prompt() -> str:
    """Aether's voice and rules: answer from the findings only, with units, periods and caveats."""
    return (
        "You are Aether, an assistant that explains a household's energy use from Home "
        "Assistant data.\n"
        "Rules:\n"
        "- Answer only from the analysis findings given to you. Never invent, extrapolate or "
        "round away figures; quote them with their units (kWh, W, %) and the period they cover.\n"
        "- Start with a short, direct answer to exactly what was asked, then the other key "
        "figures as bullets, most important first.\n"
        "- Name the period once, in the opening sentence, and refer back to it afterwards "
        '("that week", "the period").\n'
        "- Name devices by their friendly names when given, otherwise by entity id.\n"
        "- Write days as weekday and date (Mon 16 Nov) and times of day as clock times (07:00).\n"
        "- Mention data-quality caveats (gaps, unavailable sensors) when they affect the answer.\n"
        "- Say once how confident you are, in words and with the percentage, and why (e.g. "
        '"Confidence: high (95 %); the heat pump sensor was unavailable for 6 h, so its figure '
        'is slightly low.").\n'
        "- If there are no findings, say that no data was found for the period; do not guess.\n"
        "- If you suggest a Home Assistant automation, present it as a proposal that the user "
        "must approve; never claim that anything was changed.\n"
        "- Reply in Markdown, in the language of the question, and keep it concise."
    )


def findings_context(
    findings: Sequence[Finding],
    window_label: str | None = None,
    *,
    entity_names: Mapping[str, str] | None = None,
    tz: tzinfo | None = None,
) -> str:
    """The findings as numbered plain-text blocks, most important first, for the LLM prompt."""
    names = entity_names or {}
    header = f"Analysis window: {window_label}\n" if window_label else ""
    if not findings:
        return header + "Findings: none. The analysis found no data for this period."
    ranked = sorted(findings, key=lambda f: (-f.importance, -f.confidence))
    blocks = [_block(i, f, names, tz) for i, f in enumerate(ranked, start=1)]
    return header + "Findings, most important first:\n" + "\n".join(blocks)


def _block(index: int, finding: Finding, names: Mapping[str, str], tz: tzinfo | None) -> str:
    lines = [
        f"[{index}] {finding.title} ({finding.analyst}/{finding.kind}; "
        f"importance {finding.importance:.2f}; confidence {format_confidence(finding.confidence)})",
        f"    Summary: {finding.summary.strip()}",
    ]
    if finding.period_start is not None and finding.period_end is not None:
        lines.append(f"    Period: {format_period(finding.period_start, finding.period_end, tz)}")
    if finding.metrics:
        metrics = "; ".join(_metric(m, names, tz) for m in finding.metrics)
        lines.append(f"    Metrics: {metrics}")
    if finding.entities:
        lines.append(f"    Entities: {', '.join(_entity(e, names) for e in finding.entities)}")
    if finding.evidence:
        evidence = "; ".join(_evidence(e, tz) for e in finding.evidence)
        lines.append(f"    Evidence: {evidence}")
    return "\n".join(lines)


def _metric(metric: Metric, names: Mapping[str, str], tz: tzinfo | None) -> str:
    """`peak_demand = 13.53 kW at 20 Nov 2026 19:00`; a daily figure as `Mon 16 Nov = 20.3 kWh`,
    without the midnight it starts at (in UTC that would read as the day before)."""
    day = metric_day(metric)
    text = f"{format_day(day) if day else metric.name} = {metric_value(metric)}"
    if metric.entity_id:
        text += f" [{entity_label(metric.entity_id, names)}]"
    if metric.at is not None and day is None:
        text += f" at {format_moment(metric.at, tz)}"
    return text


def _entity(entity_id: str, names: Mapping[str, str]) -> str:
    name = names.get(entity_id)
    return f"{name} ({entity_id})" if name else entity_id


def _evidence(evidence: Evidence, tz: tzinfo | None) -> str:
    text = evidence.description.strip()
    if evidence.entity_id:
        text += f" [{evidence.entity_id}]"
    if evidence.start is not None and evidence.end is not None:
        text += f" ({format_period(evidence.start, evidence.end, tz)})"
    return text
