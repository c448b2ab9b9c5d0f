"""Entry point of every analysis job: analyst name -> pure function on the household's frame."""

from __future__ import annotations

import pandas as pd

from aether.analysis.findings import AnalysisParams, AnalysisResult, AnalystName
from aether.analysis.schema import EntityMeta


def run_analysis(
    analyst: AnalystName,
    frame: pd.DataFrame,
    entities: dict[str, EntityMeta],
    params: AnalysisParams,
) -> AnalysisResult:
    """Run one analyst's analysis. Pure: no I/O, deterministic for the same inputs."""
    raise NotImplementedError(analyst)
