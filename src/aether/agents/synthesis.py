"""The orchestrator's synthesis: one ranked list of findings from several analysts.

1. Dedupe: the same kind about the same entities and period is kept once (the most confident).
2. Cross-reference: a finding about an entity the diagnostic analyst flags gets a note in its
   evidence, and where the problem makes its figures less exact (stale sensor ×0.8, impossible
   values ×0.85, unavailable periods or gaps ×0.9) a lower confidence, scaled by the share of the
   finding's entities that are flagged. Resets, duplicates and out-of-order rows are noted only:
   the analyses already handle them.
3. Conflicts: the same metric (name, entity, unit) reported by two analysts with values more
   than 5 % apart is a conflict: both findings say so in their evidence and lose 10 % confidence.
4. Rank by impact: importance × (0.5 + confidence / 2), most important first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from aether.analysis.findings import Evidence, Finding

AFFECTING: Final[dict[str, float]] = {
    "stale_sensor": 0.8,
    "impossible_value": 0.85,
    "unavailable": 0.9,
    "gap": 0.9,
}
NOTED: Final = frozenset({"meter_reset", "duplicate_timestamps", "out_of_order_timestamps"})
CONFLICT_TOLERANCE: Final = 0.05
CONFLICT_FACTOR: Final = 0.9


@dataclass
class Synthesis:
    findings: list[Finding]
    duplicates: int = 0
    cross_references: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def impact(finding: Finding) -> float:
    return finding.importance * (0.5 + finding.confidence / 2)


def dedupe(findings: list[Finding]) -> list[Finding]:
    best: dict[tuple[object, ...], Finding] = {}
    for finding in findings:
        key = (
            finding.kind,
            tuple(sorted(finding.entities)),
            finding.period_start,
            finding.period_end,
        )
        if key not in best or finding.confidence > best[key].confidence:
            best[key] = finding
    return list(best.values())


def _flags(findings: list[Finding]) -> dict[str, list[Finding]]:
    flagged: dict[str, list[Finding]] = {}
    for f in findings:
        if f.analyst == "diagnostic" and (f.kind in AFFECTING or f.kind in NOTED):
            for entity in f.entities:
                flagged.setdefault(entity, []).append(f)
    return flagged


def _cross_check(finding: Finding, flagged: dict[str, list[Finding]]) -> tuple[Finding, list[str]]:
    hits = [(e, issue) for e in finding.entities for issue in flagged.get(e, [])]
    if finding.analyst == "diagnostic" or not hits:
        return finding, []
    worst = min(AFFECTING.get(issue.kind, 1.0) for _, issue in hits)
    share = len({e for e, issue in hits if issue.kind in AFFECTING}) / len(finding.entities)
    factor = 1.0 - (1.0 - worst) * share
    conf = round(finding.confidence * factor, 3)
    notes = [f"{issue.title.lower()} of {e}" for e, issue in hits]
    text = f"cross-check with the diagnostic analyst: {', '.join(notes)}"
    if conf < finding.confidence:
        text += f"; confidence lowered from {finding.confidence:.2f} to {conf:.2f}"
    proof = Evidence(
        description=text,
        data={"cross_reference": [{"entity_id": e, "kind": i.kind} for e, i in hits]},
    )
    changed = finding.model_copy(
        update={"confidence": conf, "evidence": [*finding.evidence, proof]}
    )
    return changed, [f"{finding.analyst}/{finding.kind}: {text}"]


def _conflicts(findings: list[Finding]) -> tuple[list[Finding], list[str]]:
    seen: dict[tuple[str, str | None, str], tuple[int, float]] = {}
    pairs: set[tuple[int, int]] = set()
    stated: list[str] = []
    for index, finding in enumerate(findings):
        for m in finding.metrics:
            key = (m.name, m.entity_id, m.unit)
            if key in seen and findings[seen[key][0]].analyst != finding.analyst:
                other, value = seen[key]
                scale = max(abs(value), abs(m.value), 1e-9)
                if abs(value - m.value) / scale > CONFLICT_TOLERANCE:
                    pairs.add((other, index))
                    a, b = findings[other], finding
                    stated.append(
                        f"{m.name}{f' of {m.entity_id}' if m.entity_id else ''}: "
                        f"{a.analyst}/{a.kind} says {value:g} {m.unit}, "
                        f"{b.analyst}/{b.kind} says {m.value:g} {m.unit}"
                    )
            elif key not in seen:
                seen[key] = (index, m.value)
    involved = {i for pair in pairs for i in pair}
    out = list(findings)
    for i in involved:
        own = [s for s in stated if f"{findings[i].analyst}/{findings[i].kind} says" in s]
        note = Evidence(description="conflict: " + "; ".join(own), data={"conflicts": own})
        out[i] = findings[i].model_copy(
            update={
                "confidence": round(findings[i].confidence * CONFLICT_FACTOR, 3),
                "evidence": [*findings[i].evidence, note],
            }
        )
    return out, stated


def synthesis(findings: list[Finding]) -> Synthesis:
    kept = dedupe(findings)
    flagged = _flags(kept)
    checked, references = [], []
    for finding in kept:
        changed, notes = _cross_check(finding, flagged)
        checked.append(changed)
        references += notes
    resolved, conflicts = _conflicts(checked)
    ranked = sorted(resolved, key=impact, reverse=True)
    return Synthesis(ranked, len(findings) - len(kept), references, conflicts)


def synthesise(findings: list[Finding]) -> list[Finding]:
    """Dedupe, cross-reference, state conflicts and rank; the findings only."""
    return synthesis(findings).findings
