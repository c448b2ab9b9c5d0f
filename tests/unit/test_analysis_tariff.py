"""The TARIFF syntax: flat prices, time-of-use bands by local time and weekday, JSON, errors."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from pydantic import ValidationError

from aether.analysis.findings import AnalysisParams
from aether.analysis.frames import long_frame
from aether.analysis.registry import run_analysis
from aether.analysis.schema import EntityMeta
from aether.analysis.tariff import Tariff
from aether.config import SettingsError, load_settings

BERLIN = ZoneInfo("Europe/Berlin")


def price_at(tariff: Tariff, weekday: int, hour: int, minute: int = 0) -> float:
    return float(tariff.price_grid()[weekday, hour * 4 + minute // 15])


@pytest.mark.parametrize(
    "text", ["0.32 EUR", "EUR 0.32", '{"currency": "EUR", "bands": [{"price": 0.32}]}']
)
def test_flat_prices(text: str) -> None:
    tariff = Tariff.parse(text)
    assert tariff.flat
    assert tariff.currency == "EUR"
    assert price_at(tariff, 0, 0) == price_at(tariff, 6, 23, 45) == 0.32


def test_time_of_use_bands_by_time_and_weekday() -> None:
    tariff = Tariff.parse("EUR 0.35@07-20/mon-fri,0.3@06:30-22/sat+sun,0.22")
    assert not tariff.flat
    assert price_at(tariff, 0, 6, 45) == 0.22
    assert price_at(tariff, 4, 7) == 0.35
    assert price_at(tariff, 4, 19, 45) == 0.35
    assert price_at(tariff, 4, 20) == 0.22
    assert price_at(tariff, 5, 6, 30) == 0.3
    assert price_at(tariff, 6, 21, 45) == 0.3
    assert price_at(tariff, 6, 22) == 0.22


def test_a_band_may_run_across_midnight() -> None:
    tariff = Tariff.parse("CHF 0.2@22-06,0.3")
    assert tariff.currency == "CHF"
    assert [price_at(tariff, 2, h) for h in (21, 22, 0, 5, 6)] == [0.3, 0.2, 0.2, 0.2, 0.3]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("EUR 0.3@07-20", "no price for mon 00:00"),
        ("EUR 0.3@07:10-08,0.2", "quarter hour"),
        ("EUR 0.3/mon-funday,0.2", "days"),
        ("0.3", "expected"),
        ("XX1 0.3", "currency"),
    ],
)
def test_invalid_tariffs_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises((ValueError, ValidationError), match=message):
        Tariff.parse(text)


def test_the_setting_parses_and_rejects_with_the_variable_name() -> None:
    assert load_settings(tariff="0.32 EUR").tariff == Tariff.parse("0.32 EUR")
    assert load_settings(tariff="").tariff is None
    with pytest.raises(SettingsError, match="TARIFF"):
        load_settings(tariff="EUR 0.3@07-20")


def test_time_of_use_cost_follows_local_time_across_the_dst_night() -> None:
    """1 kWh in every hour of Sun 25 Oct 2026 (25 local hours); night price 00-06 local."""
    start = datetime(2026, 10, 25, tzinfo=BERLIN)
    end = datetime(2026, 10, 26, tzinfo=BERLIN)
    times = pd.date_range(start, end, freq="h").tz_convert("UTC")
    frame = long_frame("sensor.grid_import_energy", times, [float(i) for i in range(len(times))])
    meta = EntityMeta(
        entity_id="sensor.grid_import_energy",
        friendly_name="Grid",
        unit="kWh",
        device_class="energy",
        state_class="total_increasing",
    )
    params = AnalysisParams(
        window_start=start,
        window_end=end,
        timezone="Europe/Berlin",
        window_label="Sunday",
        max_gap_minutes=90,
        tariff=Tariff.parse("EUR 0.1@00-06,0.5"),
    )
    result = run_analysis("energy", frame, {meta.entity_id: meta}, params)
    cost = next(f for f in result.findings if f.kind == "energy_cost")
    values = {m.name: m.value for m in cost.metrics}
    # 00:00-06:00 local is 7 hours that night (02:00-03:00 twice): 7 x 0.1 + 18 x 0.5.
    assert values["cost"] == round(7 * 0.1 + 18 * 0.5, 2)
    assert values["priced_energy"] == 25.0
