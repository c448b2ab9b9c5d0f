"""On/off entities (switches, lights) as timelines: a state holds until the next one is reported.

Unavailable or unknown time counts neither as on nor as off; switching on means going from "off"
to "on" (coming back from "unavailable" is not an action).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aether.analysis.curves import BoolArray
from aether.analysis.periods import NS_PER_H, IntArray
from aether.analysis.series import EntitySeries
from aether.analysis.units import FloatArray


@dataclass(frozen=True)
class Timeline:
    entity_id: str
    t: IntArray
    """Segment boundaries: one more than segments; the last segment ends at the window end."""
    on: BoolArray
    known: BoolArray
    switched_on: IntArray
    """Moments (ns) of off -> on transitions inside the window."""
    switched_off: IntArray
    on_h: FloatArray
    """Cumulative on-hours at each boundary of `t` (computed once: nights ask 365 times)."""
    known_h: FloatArray

    def hours(self, edges: IntArray) -> tuple[FloatArray, FloatArray]:
        """On-hours and known hours in each bucket between consecutive edges."""
        if len(self.t) < 2:
            zero = np.zeros(max(len(edges) - 1, 0), dtype=np.float64)
            return zero, zero
        x = (edges - self.t[0]).astype(np.float64)
        xp = (self.t - self.t[0]).astype(np.float64)
        return np.diff(np.interp(x, xp, self.on_h)), np.diff(np.interp(x, xp, self.known_h))


def timeline(series: EntitySeries, start_ns: int, end_ns: int) -> Timeline:
    t = series.t
    if len(t) and t[-1] < end_ns:
        t = np.concatenate((t, [end_ns])).astype(np.int64)
    n = len(t) - 1 if len(t) else 0
    on = series.is_state("on")[:n]
    off = series.is_state("off")[:n]
    inside = (t[:n] >= start_ns) & (t[:n] < end_ns)
    was_off = np.concatenate(([False], off[:-1])) if n else off
    was_on = np.concatenate(([False], on[:-1])) if n else on
    duration = np.diff(t).astype(np.float64) / NS_PER_H
    known = series.known[:n]
    return Timeline(
        entity_id=series.entity_id,
        t=t,
        on=on,
        known=known,
        switched_on=t[:n][on & was_off & inside],
        switched_off=t[:n][off & was_on & inside],
        on_h=np.concatenate(([0.0], np.cumsum(np.where(on, duration, 0.0)))),
        known_h=np.concatenate(([0.0], np.cumsum(np.where(known, duration, 0.0)))),
    )
