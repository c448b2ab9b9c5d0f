"""When and how the orchestrator runs an analyst again: the retry policy and its adjustments.

An analyst whose result confidence is below `RetryPolicy.min_confidence` (0.6) runs again, at most
`max_retries` (2) more times, so at most three attempts. Each retry changes one thing, chosen from
what the weak result suggests, in this order:
1. `entities`: the question focused on some entities and they gave nothing: use all of them;
2. `window`: behavioral analysis of less than a week (routines need 7 days) or no data at all:
   extend the window back (to 7 days, or to twice its length, at most 92 days);
3. `resolution`: widen the gap tolerance ×4 (30 → 120 → 480 min, at most 6 h), so sparse
   readings count as covered (the usual cause of low coverage);
4. `window` again, if not tried yet.
The attempt with the highest confidence is kept (the first of equals), whatever its number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from aether.analysis.findings import AnalysisParams, AnalystName, Finding

NO_DATA = "no_data"


@dataclass(frozen=True)
class RetryPolicy:
    min_confidence: float = 0.6
    max_retries: int = 2
    gap_factor: float = 4.0
    max_gap_minutes: float = 360.0
    window_factor: float = 2.0
    max_window_days: float = 92.0
    min_behavior_days: float = 7.0


@dataclass(frozen=True)
class Outcome:
    """What one attempt gave, as far as the retry decision needs it."""

    confidence: float
    findings: list[Finding]

    @property
    def no_data(self) -> bool:
        return not self.findings or all(f.kind == NO_DATA for f in self.findings)


@dataclass(frozen=True)
class Adjustment:
    kind: str
    """`entities`, `window` or `resolution`."""
    params: AnalysisParams
    reason: str


def _days(params: AnalysisParams) -> float:
    return (params.window_end - params.window_start).total_seconds() / 86_400.0


def _longer_window(params: AnalysisParams, policy: RetryPolicy, days: float) -> Adjustment | None:
    days = min(days, policy.max_window_days)
    if days <= _days(params) + 1e-9:
        return None
    start = params.window_end - timedelta(days=days)
    label = f"{params.window_label.split(' (')[0]} (extended to the {days:g} days before its end)"
    changed = params.model_copy(update={"window_start": start, "window_label": label})
    return Adjustment(
        "window", changed, f"a longer window ({days:g} days instead of {_days(params):g})"
    )


def _wider_gaps(params: AnalysisParams, policy: RetryPolicy) -> Adjustment | None:
    wider = min(params.max_gap_minutes * policy.gap_factor, policy.max_gap_minutes)
    if wider <= params.max_gap_minutes:
        return None
    changed = params.model_copy(update={"max_gap_minutes": wider})
    return Adjustment(
        "resolution",
        changed,
        f"a gap tolerance of {wider:g} min instead of {params.max_gap_minutes:g} min",
    )


def next_attempt(
    analyst: AnalystName,
    params: AnalysisParams,
    outcome: Outcome,
    tried: set[str],
    policy: RetryPolicy,
) -> Adjustment | None:
    """The adjustment for the next attempt, or None when nothing sensible is left to try."""
    if params.focus_entities and outcome.no_data and "entities" not in tried:
        changed = params.model_copy(update={"focus_entities": []})
        return Adjustment("entities", changed, "all of the household's entities")
    short = analyst == "behavioral" and _days(params) < policy.min_behavior_days
    if (short or outcome.no_data) and "window" not in tried:
        target = policy.min_behavior_days if short else _days(params) * policy.window_factor
        longer = _longer_window(params, policy, target)
        if longer is not None:
            return longer
    wider = _wider_gaps(params, policy)
    if wider is not None and not outcome.no_data:
        return wider
    if "window" not in tried:
        return _longer_window(params, policy, _days(params) * policy.window_factor)
    return None
