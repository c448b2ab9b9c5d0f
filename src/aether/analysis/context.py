"""Everything an analyst needs about one job, computed once: the window in nanoseconds, the
household's data horizon, per-entity series and metadata, and the phrase that names the window."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from aether.analysis.findings import AnalysisParams
from aether.analysis.periods import NS_PER_MIN, to_ns
from aether.analysis.quality import RawOrder, raw_order
from aether.analysis.roles import default_meta
from aether.analysis.schema import EntityMeta
from aether.analysis.series import (
    EntitySeries,
    columns_of,
    entity_series,
    grouped,
    sorted_rows,
    window_rows,
)
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
    orders: dict[str, RawOrder]
    """Per entity, duplicate and out-of-order rows inside the window, as the source gave them."""
    series: dict[str, EntitySeries]
    """Per entity, sorted and de-duplicated: the window's rows, the last one before it and the
    first one after it."""
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


def _entities(
    frame: pd.DataFrame, start_ns: int, end_ns: int, focus: set[str] | None
) -> tuple[dict[str, EntitySeries], dict[str, RawOrder]]:
    cols = columns_of(frame)
    groups = grouped(cols)
    series: dict[str, EntitySeries] = {}
    orders: dict[str, RawOrder] = {}
    for code, name in enumerate(cols.names):
        if focus is not None and name not in focus:
            continue
        source = groups.rows(code)
        by_time, replaced = sorted_rows(cols, source)
        orders[name] = raw_order(cols, source, by_time, start_ns, end_ns)
        kept = by_time[~replaced]
        rows = kept[window_rows(cols.t[kept], start_ns, end_ns)]
        if len(rows):
            series[name] = entity_series(cols, code, rows)
    return series, orders


def horizon_ns(series: dict[str, EntitySeries], start_ns: int, end_ns: int) -> int:
    """Where the household's data ends inside the window (its end when data reaches it).

    A window may end in the future ("today"); coverage and staleness are measured up to here."""
    inside = [int(s.t[s.t < end_ns].max()) for s in series.values() if (s.t < end_ns).any()]
    if any(s.t[-1] >= end_ns for s in series.values()):
        return end_ns
    return max([t for t in inside if t >= start_ns], default=start_ns)


def build_context(
    frame: pd.DataFrame, entities: dict[str, EntityMeta], params: AnalysisParams
) -> AnalysisContext:
    start_ns, end_ns = to_ns(params.window_start), to_ns(params.window_end)
    end_ns = max(end_ns, start_ns)
    focus = set(params.focus_entities) or None
    series, orders = _entities(frame, start_ns, end_ns, focus)
    known = {k: v for k, v in entities.items() if focus is None or k in focus}
    return AnalysisContext(
        params=params,
        start_ns=start_ns,
        end_ns=end_ns,
        horizon_ns=horizon_ns(series, start_ns, end_ns),
        timezone=params.timezone,
        phrase=window_phrase(params.window_label, start_ns, end_ns, params.timezone),
        max_gap_ns=int(params.max_gap_minutes * NS_PER_MIN),
        orders=orders,
        series=series,
        entities=known,
    )
