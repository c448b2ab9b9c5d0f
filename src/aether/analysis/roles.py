"""What an entity measures and which way its energy flows, from its metadata alone.

Home Assistant tells us the device and state class but not whether a meter is the grid connection
or a single appliance, so the flow comes from words in the entity id and friendly name.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

from aether.analysis.schema import EntityMeta
from aether.analysis.units import is_energy_unit, is_power_unit

ON_OFF_DOMAINS: Final = frozenset({"switch", "light", "fan", "input_boolean"})
CUMULATIVE_STATE_CLASSES: Final = frozenset({"total", "total_increasing"})

_EXPORT_WORDS: Final = frozenset(
    {"export", "exported", "return", "returned", "feedin", "injection"}
)
_PRODUCTION_WORDS: Final = frozenset(
    {"solar", "pv", "photovoltaic", "inverter", "production", "generation", "yield"}
)
_GRID_WORDS: Final = frozenset({"grid", "import", "imported", "mains", "utility"})


class Measure(StrEnum):
    ENERGY_METER = "energy_meter"
    POWER = "power"
    ON_OFF = "on_off"
    NUMERIC = "numeric"
    OTHER = "other"


class Flow(StrEnum):
    GRID_IMPORT = "grid_import"
    GRID_EXPORT = "grid_export"
    PRODUCTION = "production"
    CONSUMER = "consumer"


def measure_of(meta: EntityMeta) -> Measure:
    if meta.domain in ON_OFF_DOMAINS:
        return Measure.ON_OFF
    if meta.device_class == "energy" or is_energy_unit(meta.unit):
        return Measure.ENERGY_METER
    if meta.device_class == "power" or is_power_unit(meta.unit):
        return Measure.POWER
    if meta.domain == "sensor":
        return Measure.NUMERIC
    return Measure.OTHER


def _words(meta: EntityMeta) -> set[str]:
    text = f"{meta.entity_id.split('.', 1)[-1]} {meta.friendly_name}".lower()
    text = (
        text.replace("feed_in", "feedin").replace("feed-in", "feedin").replace("feed in", "feedin")
    )
    return set(re.split(r"[^a-z0-9]+", text))


def flow_of(meta: EntityMeta) -> Flow:
    """Export before production before grid: `grid_export` names the grid too."""
    words = _words(meta)
    if words & _EXPORT_WORDS:
        return Flow.GRID_EXPORT
    if words & _PRODUCTION_WORDS:
        return Flow.PRODUCTION
    if words & _GRID_WORDS:
        return Flow.GRID_IMPORT
    return Flow.CONSUMER


def is_energy_input(meta: EntityMeta) -> bool:
    return measure_of(meta) in (Measure.ENERGY_METER, Measure.POWER)


def default_meta(entity_id: str) -> EntityMeta:
    """Metadata for an entity that appears in the data but not in the entity list."""
    return EntityMeta(entity_id=entity_id, friendly_name=entity_id)
