"""What every kind of draft shares: its inputs, the household's known entities, and how a
proposal states its reason."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from aether.agents.proposals.model import Figure, Justification
from aether.analysis.findings import Finding
from aether.analysis.tariff import Tariff


@dataclass(frozen=True)
class DraftingInputs:
    findings: Sequence[Finding]
    names: Mapping[str, str]
    """Friendly name per entity id: also the household's known entities."""
    tariff: Tariff | None = None


IdFactory = Callable[[], str]


def known_entities(findings: Sequence[Finding], names: Mapping[str, str]) -> set[str]:
    """The household's entities as the analysis saw them: those with a friendly name, and every
    entity a finding names (an entity without a name of its own is in the data all the same)."""
    known = set(names)
    for finding in findings:
        known.update(finding.entities)
        known.update(e.entity_id for e in finding.evidence if e.entity_id)
        known.update(m.entity_id for m in finding.metrics if m.entity_id)
    return known


def justification(
    finding: Finding, summary: str, confidence: float, figures: dict[str, Figure]
) -> Justification:
    return Justification(
        finding_kind=finding.kind,
        finding_title=finding.title,
        summary=summary,
        confidence=round(min(max(confidence, 0.0), 1.0), 3),
        figures=figures,
        period_start=finding.period_start,
        period_end=finding.period_end,
    )


def description(proposal_id: str, why: str) -> str:
    return f"Proposed by Aether (proposal {proposal_id}): {why.rstrip('.')}."


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
