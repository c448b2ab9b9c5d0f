"""The shape of a household's time series, shared by data sources, analyses and the sandbox.

A household is one long data frame (one row per reported state) plus metadata per entity, in the
vocabulary of Home Assistant (`device_class`, `state_class`, unit of measurement).
"""

from __future__ import annotations

from typing import Final

import pandas as pd
from pydantic import BaseModel, ConfigDict

ENTITY_ID: Final = "entity_id"
TIMESTAMP: Final = "timestamp"
VALUE: Final = "value"
STATE: Final = "state"
COLUMNS: Final = (ENTITY_ID, TIMESTAMP, VALUE, STATE)
"""Long format: `timestamp` is tz-aware UTC, `value` is float (NaN when the state is not numeric),
`state` is the raw state string as reported ("231.5", "on", "unavailable", "unknown")."""

LAST_RESET: Final = "last_reset"
"""Optional column: Home Assistant's `last_reset` attribute of a `total` sensor (tz-aware UTC, NaT
when not reported). A change starts a new metering period; frames without it are still valid."""

UNAVAILABLE_STATES: Final = frozenset({"unavailable", "unknown", ""})


class EntityMeta(BaseModel):
    """What is known about one entity; mirrors the attributes of a Home Assistant state."""

    model_config = ConfigDict(frozen=True)

    entity_id: str
    friendly_name: str
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    """`measurement`, `total` or `total_increasing`, as in Home Assistant."""

    @property
    def domain(self) -> str:
        return self.entity_id.split(".", 1)[0]


def empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            ENTITY_ID: pd.Series(dtype="string"),
            TIMESTAMP: pd.Series(dtype="datetime64[ns, UTC]"),
            VALUE: pd.Series(dtype="float64"),
            STATE: pd.Series(dtype="string"),
        }
    )
    return frame
