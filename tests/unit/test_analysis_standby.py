"""Standby: power while a device's switch is off, or while it idles, with exact figures."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from aether.analysis.findings import AnalysisParams, AnalysisResult, Finding
from aether.analysis.frames import long_frame
from aether.analysis.registry import run_analysis
from aether.analysis.schema import EntityMeta
from aether.analysis.tariff import Tariff

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 11, 2, tzinfo=BERLIN)
END = START + timedelta(days=2)
TIMES = pd.date_range(START, END, freq="15min").tz_convert("UTC")


def local_hours() -> list[float]:
    local = TIMES.tz_convert(BERLIN)
    return [t.hour + t.minute / 60 for t in local]


def power(entity_id: str) -> EntityMeta:
    return EntityMeta(
        entity_id=entity_id, friendly_name=entity_id.split(".")[1], unit="W", device_class="power"
    )


def household() -> tuple[pd.DataFrame, dict[str, EntityMeta]]:
    hours = local_hours()
    tv = [120.0 if 19.25 <= h <= 21.75 else 8.0 for h in hours]
    washer = [1800.0 if 12.25 <= h <= 12.75 else 2.0 for h in hours]
    switch_times, switch_states = [TIMES[0]], ["off"]
    for day in (0, 1):
        for hour, state in ((19, "on"), (22, "off")):
            switch_times.append(pd.Timestamp(START + timedelta(days=day, hours=hour)))
            switch_states.append(state)
    frame = pd.concat(
        [
            long_frame("sensor.tv_power", TIMES, tv),
            long_frame("sensor.dishwasher_power", TIMES, washer),
            long_frame("sensor.fridge_power", TIMES, [50.0] * len(TIMES)),
            long_frame("switch.tv", switch_times, switch_states),
        ],
        ignore_index=True,
    )
    metas = {
        m.entity_id: m
        for m in (
            power("sensor.tv_power"),
            power("sensor.dishwasher_power"),
            power("sensor.fridge_power"),
            EntityMeta(entity_id="switch.tv", friendly_name="TV"),
        )
    }
    return frame, metas


@pytest.fixture(scope="module")
def result() -> AnalysisResult:
    frame, metas = household()
    params = AnalysisParams(
        window_start=START,
        window_end=END,
        timezone="Europe/Berlin",
        window_label="two days",
        tariff=Tariff.parse("0.30 EUR"),
    )
    return run_analysis("behavioral", frame, metas, params)


def standby(result: AnalysisResult, entity_id: str) -> Finding:
    found = [
        f for f in result.findings if f.kind == "standby_consumption" and f.entities == [entity_id]
    ]
    assert len(found) == 1, [(f.kind, f.entities) for f in result.findings]
    return found[0]


def test_standby_while_the_switch_is_off(result: AnalysisResult) -> None:
    tv = standby(result, "sensor.tv_power")
    assert {m.name: m.value for m in tv.metrics} == {
        "standby_power": 8.0,
        "standby_time": 42.0,
        "standby_energy": 0.336,
        "standby_per_year": 70.1,
        "standby_cost_per_year": round(8 * 8.76 * 0.30, 2),
    }
    assert tv.evidence[0].data["method"] == "switched off"
    assert "while switched off" in tv.summary


def test_standby_while_idle_without_a_switch(result: AnalysisResult) -> None:
    washer = standby(result, "sensor.dishwasher_power")
    values = {m.name: m.value for m in washer.metrics}
    assert (values["standby_power"], values["standby_time"]) == (2.0, 46.0)
    assert washer.evidence[0].data["method"] == "idle"


def test_an_always_on_device_has_no_standby(result: AnalysisResult) -> None:
    assert not [f for f in result.findings if "sensor.fridge_power" in f.entities]
