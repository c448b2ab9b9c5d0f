"""Everything an analyst needs about one job, computed once: the window in nanoseconds, the
household's data horizon, per-entity series and metadata, and the phrase that names the window."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from aether.analysis.findings import AnalysisParams
from aether.analysis.frames import EntitySeries, clip_frame, horizon_ns, split_entities
from aether.analysis.periods import NS_PER_MIN, to_ns
from aether.analysis.roles import default_meta
from aether.analysis.schema import ENTITY_ID, EntityMeta
from aether.analysis.text import window_phrase


@dataclass(frozen=True)
class AnalysisContext:
    params: AnalysisParams
    start_ns: int
    end_ns: int
    horizon_ns: int
    """End of the household's data inside the window; coverage is measured up to here."""
    timezone: str
    phrase: str
    """`last week (16–22 Nov)`: how summaries name the window."""
    max_gap_ns: int
    raw: pd.DataFrame
    """The window's rows (plus the state before it) in the order the source gave them."""
    series: dict[str, EntitySeries]
    """Per entity, sorted and de-duplicated, including one row after the window when given."""
    entities: dict[str, EntityMeta]

    @property
    def has_data(self) -> bool:
        """Some entity reported inside the window, or has readings on both sides of it."""
        return any(
            ((s.t >= self.start_ns) & (s.t < self.end_ns)).any()
            or ((s.t < self.start_ns).any() and (s.t >= self.end_ns).any())
            for s in self.series.values()
        )

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def observed_ns(self) -> int:
        """Length of the window up to the data horizon (at least one nanosecond)."""
        return max(self.horizon_ns - self.start_ns, 1)

    def meta(self, entity_id: str) -> EntityMeta:
        return self.entities.get(entity_id) or default_meta(entity_id)


def build_context(
    frame: pd.DataFrame, entities: dict[str, EntityMeta], params: AnalysisParams
) -> AnalysisContext:
    start_ns, end_ns = to_ns(params.window_start), to_ns(params.window_end)
    focus = list(params.focus_entities) or None
    if focus is not None:
        frame = frame[frame[ENTITY_ID].isin(focus)]
    padded = clip_frame(frame, start_ns, end_ns, following=True)
    raw = clip_frame(frame, start_ns, end_ns)
    known = {k: v for k, v in entities.items() if focus is None or k in focus}
    return AnalysisContext(
        params=params,
        start_ns=start_ns,
        end_ns=max(end_ns, start_ns),
        horizon_ns=horizon_ns(padded, start_ns, end_ns),
        timezone=params.timezone,
        phrase=window_phrase(params.window_label, start_ns, end_ns, params.timezone),
        max_gap_ns=int(params.max_gap_minutes * NS_PER_MIN),
        raw=raw,
        series=split_entities(padded),
        entities=known,
    )
