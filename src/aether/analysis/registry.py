"""Entry point of every analysis job: analyst name -> pure function on the household's frame."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

import pandas as pd

from aether.analysis.behavioral import analyse_behavior
from aether.analysis.context import AnalysisContext, build_context
from aether.analysis.diagnostic import analyse_quality
from aether.analysis.energy import analyse_energy
from aether.analysis.findings import AnalysisParams, AnalysisResult, AnalystName
from aether.analysis.schema import EntityMeta

ANALYSTS: Final[dict[str, Callable[[AnalysisContext], AnalysisResult]]] = {
    "energy": analyse_energy,
    "behavioral": analyse_behavior,
    "diagnostic": analyse_quality,
}


def run_analysis(
    analyst: AnalystName,
    frame: pd.DataFrame,
    entities: dict[str, EntityMeta],
    params: AnalysisParams,
) -> AnalysisResult:
    """Run one analyst's analysis. Pure: no I/O, deterministic for the same inputs.

    The result carries the friendly names of the entities it saw: the findings only hold entity
    ids, and whoever writes the answer has no other way to name the devices."""
    if analyst not in ANALYSTS:
        raise ValueError(f"unknown analyst {analyst!r}; expected one of {sorted(ANALYSTS)}")
    result = ANALYSTS[analyst](build_context(frame, entities, params))
    return result.model_copy(update={"entity_names": friendly_names(entities)})


def friendly_names(entities: Mapping[str, EntityMeta]) -> dict[str, str]:
    """Entity id -> friendly name, leaving out entities without a name of their own."""
    return {
        entity_id: meta.friendly_name.strip()
        for entity_id, meta in entities.items()
        if meta.friendly_name.strip() and meta.friendly_name.strip() != entity_id
    }
