"""Structured findings: what every analyst returns, and what the architect narrates."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from aether.analysis.tariff import Tariff

AnalystName = Literal["energy", "behavioral", "diagnostic"]
AnalysisDepth = Literal["quick", "standard", "deep"]
"""How much the sandbox allows a job: its time and memory limits grow with the depth."""


class Metric(BaseModel):
    name: str
    value: float
    unit: str
    """Unit of `value`: kWh, W, kW, %, h, count, ..."""
    entity_id: str | None = None
    at: datetime | None = None
    """When the metric refers to one moment (a peak), that moment."""


class Evidence(BaseModel):
    """Where a finding comes from: an entity and a time range, with a short description."""

    description: str
    entity_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class Finding(BaseModel):
    analyst: AnalystName
    kind: str
    """Stable machine name, e.g. `consumption_total`, `baseload`, `gap`, `recurring_action`."""
    title: str
    summary: str
    """One or two sentences with the figures, units and period, readable on their own."""
    confidence: float = Field(ge=0.0, le=1.0)
    metrics: list[Metric] = Field(default_factory=list)
    entities: list[str] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    period_start: datetime | None = None
    period_end: datetime | None = None
    importance: float = Field(default=0.5, ge=0.0, le=1.0)
    """How much the finding matters for the answer; the orchestrator ranks by it."""


class AnalysisParams(BaseModel):
    """Parameters of one analysis job; the orchestrator adjusts them when it retries."""

    window_start: datetime
    window_end: datetime
    timezone: str
    window_label: str
    max_gap_minutes: float = Field(default=30.0, gt=0)
    """Power is not integrated across gaps longer than this."""
    focus_entities: list[str] = Field(default_factory=list)
    tariff: Tariff | None = None
    """Prices grid energy (the `TARIFF` setting); without it no cost is computed."""
    depth: AnalysisDepth = "standard"
    """Chosen by the DS orchestrator from the question; selects the sandbox policy."""


class AnalysisResult(BaseModel):
    analyst: AnalystName
    findings: list[Finding]
    confidence: float = Field(ge=0.0, le=1.0)
    """The analyst's confidence in the result as a whole (coverage of its inputs, mostly)."""
    notes: list[str] = Field(default_factory=list)
    entity_names: dict[str, str] = Field(default_factory=dict)
    """Friendly name per entity id of the entities the analysis saw, so that answers can name
    devices the way the household does ("Heat pump", not `sensor.heat_pump_power`)."""
