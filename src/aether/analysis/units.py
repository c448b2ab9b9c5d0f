"""Unit normalisation: every energy figure in kWh, every power figure in W.

Home Assistant entities report in whatever unit their integration chose (Wh, kWh, MWh; W, kW), so
the analyses convert once, at the edge, and never compare raw numbers of different units.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

ENERGY_TO_KWH: Final[dict[str, float]] = {"wh": 1e-3, "kwh": 1.0, "mwh": 1e3, "gwh": 1e6}
POWER_TO_W: Final[dict[str, float]] = {"w": 1.0, "kw": 1e3, "mw": 1e6}

FloatArray = npt.NDArray[np.float64]


def _key(unit: str | None) -> str:
    return (unit or "").strip().lower()


def is_energy_unit(unit: str | None) -> bool:
    return _key(unit) in ENERGY_TO_KWH


def is_power_unit(unit: str | None) -> bool:
    return _key(unit) in POWER_TO_W


def energy_factor(unit: str | None) -> float:
    """Factor to kWh; an energy entity without a unit is assumed to be in kWh (HA's default)."""
    return ENERGY_TO_KWH.get(_key(unit), 1.0)


def power_factor(unit: str | None) -> float:
    """Factor to W; a power entity without a unit is assumed to be in W (HA's default)."""
    return POWER_TO_W.get(_key(unit), 1.0)


def to_kwh(values: FloatArray, unit: str | None) -> FloatArray:
    return np.asarray(values, dtype=np.float64) * energy_factor(unit)


def to_watts(values: FloatArray, unit: str | None) -> FloatArray:
    return np.asarray(values, dtype=np.float64) * power_factor(unit)
