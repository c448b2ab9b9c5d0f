"""Home Assistant's JSON to the long frame: states, history (full and minimal), statistics."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pandas as pd
import pytest

from aether.analysis.schema import EntityMeta
from aether.data.homeassistant.mapping import (
    entity_meta,
    entity_metas,
    history_frame,
    is_selected,
    statistics_frame,
    unit_factor,
)
from aether.data.homeassistant.rest import ha_time
from aether.data.homeassistant.websocket import websocket_url

ENERGY = {
    "entity_id": "sensor.grid_energy",
    "state": "4183.271",
    "attributes": {
        "friendly_name": "Grid import",
        "unit_of_measurement": "kWh",
        "device_class": "energy",
        "state_class": "total_increasing",
        "last_reset": None,
    },
    "last_changed": "2024-11-18T10:00:00+00:00",
    "last_updated": "2024-11-18T10:00:00+00:00",
}


def utc(*args: int) -> pd.Timestamp:
    return pd.Timestamp(datetime(*args, tzinfo=UTC))  # type: ignore[misc]


def test_a_state_gives_unit_classes_and_friendly_name() -> None:
    assert entity_meta(ENERGY) == EntityMeta(
        entity_id="sensor.grid_energy",
        friendly_name="Grid import",
        unit="kWh",
        device_class="energy",
        state_class="total_increasing",
    )


def test_missing_attributes_leave_the_id_as_name_and_nothing_else() -> None:
    meta = entity_meta({"entity_id": "light.hall", "state": "on", "attributes": {}})
    assert meta == EntityMeta(entity_id="light.hall", friendly_name="light.hall")
    blank = entity_meta(
        {"entity_id": "sensor.x", "attributes": {"unit_of_measurement": " ", "friendly_name": ""}}
    )
    assert blank.unit is None
    assert blank.friendly_name == "sensor.x"


def test_entity_metas_skip_items_without_an_id() -> None:
    metas = entity_metas([ENERGY, {"state": "on"}, "junk"])  # type: ignore[list-item]
    assert list(metas) == ["sensor.grid_energy"]


@pytest.mark.parametrize(
    ("entity_id", "state_class", "patterns", "selected"),
    [
        ("sensor.grid_energy", "total_increasing", (), True),
        ("sensor.heat_pump_power", "measurement", (), True),
        ("sensor.phone_battery_state", None, (), False),
        ("light.kitchen", None, (), True),
        ("switch.coffee", None, (), True),
        ("sun.sun", None, (), False),
        ("automation.morning", None, (), False),
        ("sun.sun", None, ("sun.sun",), True),
        ("sensor.grid_energy", "total_increasing", ("sensor.*_power",), False),
        ("sensor.heat_pump_power", "measurement", ("sensor.*_power", "light.*"), True),
    ],
)
def test_which_entities_are_analysed(
    entity_id: str, state_class: str | None, patterns: tuple[str, ...], selected: bool
) -> None:
    meta = EntityMeta(entity_id=entity_id, friendly_name=entity_id, state_class=state_class)
    assert is_selected(meta, patterns) is selected


def test_full_history_rows_use_last_updated_and_parse_numbers() -> None:
    payload = [
        [
            {
                "entity_id": "sensor.power",
                "state": "231.5",
                "attributes": {},
                "last_changed": "2024-11-18T09:00:00+00:00",
                "last_updated": "2024-11-18T10:00:00.250000+00:00",
            },
            {
                "entity_id": "sensor.power",
                "state": "unavailable",
                "attributes": {},
                "last_changed": "2024-11-18T10:15:00+00:00",
                "last_updated": "2024-11-18T10:15:00+00:00",
            },
        ],
        [
            {
                "entity_id": "light.hall",
                "state": "on",
                "last_changed": "2024-11-18T11:00:00+01:00",
                "last_updated": "2024-11-18T11:00:00+01:00",
            }
        ],
    ]
    frame = history_frame(payload)
    assert list(frame["entity_id"]) == ["sensor.power", "sensor.power", "light.hall"]
    assert list(frame["timestamp"]) == [
        utc(2024, 11, 18, 10, 0, 0, 250000),
        utc(2024, 11, 18, 10, 15),
        utc(2024, 11, 18, 10, 0),
    ]
    assert frame["value"].iloc[0] == 231.5
    assert math.isnan(frame["value"].iloc[1])
    assert list(frame["state"]) == ["231.5", "unavailable", "on"]
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"


def test_minimal_history_items_take_the_entity_of_their_list() -> None:
    payload = [
        [
            {
                "entity_id": "sensor.t",
                "state": "20.5",
                "attributes": {"unit_of_measurement": "°C"},
                "last_changed": "2024-11-18T10:00:00+00:00",
                "last_updated": "2024-11-18T10:00:00+00:00",
            },
            {"state": "21.0", "last_changed": "2024-11-18T10:05:00+00:00"},
            {"state": "unknown", "last_changed": "2024-11-18T10:10:00+00:00"},
        ]
    ]
    frame = history_frame(payload)
    assert list(frame["entity_id"]) == ["sensor.t"] * 3
    assert list(frame["value"].iloc[:2]) == [20.5, 21.0]
    assert frame["state"].iloc[2] == "unknown"


def test_an_empty_history_is_an_empty_frame_and_a_malformed_one_an_error() -> None:
    assert history_frame([]).empty
    assert history_frame([[]]).empty
    with pytest.raises(ValueError, match="not a list"):
        history_frame({"sensor.x": []})
    with pytest.raises(ValueError, match="full state"):
        history_frame([[{"state": "1", "last_changed": "2024-11-18T10:00:00+00:00"}]])
    with pytest.raises(ValueError, match="no state or time"):
        history_frame([[{"entity_id": "sensor.x", "state": "1"}]])


METAS = {
    "sensor.grid_energy": EntityMeta(
        entity_id="sensor.grid_energy",
        friendly_name="Grid",
        unit="kWh",
        state_class="total_increasing",
    ),
    "sensor.power": EntityMeta(
        entity_id="sensor.power", friendly_name="Power", unit="W", state_class="measurement"
    ),
}
T0 = 1_731_924_000_000.0  # 2024-11-18T10:00:00Z in ms
HOUR_MS = 3_600_000.0


def test_statistics_meters_give_readings_at_the_hour_end_and_sensors_means_at_its_start() -> None:
    result = {
        "sensor.grid_energy": [
            {"start": T0, "end": T0 + HOUR_MS, "state": 100.5, "sum": 10.0, "last_reset": None},
            {"start": T0 + HOUR_MS, "end": T0 + 2 * HOUR_MS, "state": None, "sum": 11.0},
        ],
        "sensor.power": [
            {"start": T0, "end": T0 + HOUR_MS, "mean": 250.0, "min": 100.0, "max": 400.0},
            {"start": T0 + HOUR_MS, "end": T0 + 2 * HOUR_MS, "mean": None},
        ],
    }
    frame = statistics_frame(result, METAS)
    rows = list(zip(frame["entity_id"], frame["timestamp"], frame["value"], strict=True))
    assert rows == [
        ("sensor.grid_energy", utc(2024, 11, 18, 11), 100.5),
        ("sensor.grid_energy", utc(2024, 11, 18, 12), 11.0),
        ("sensor.power", utc(2024, 11, 18, 10), 250.0),
    ]
    assert frame["state"].iloc[0] == "100.5"


def test_statistics_with_iso_times_as_older_home_assistant_sent_them() -> None:
    result = {
        "sensor.power": [
            {"start": "2024-11-18T10:00:00+00:00", "end": "2024-11-18T11:00:00+00:00", "mean": 2.5}
        ]
    }
    frame = statistics_frame(result, METAS, {"sensor.power": 1000.0})
    assert list(frame["timestamp"]) == [utc(2024, 11, 18, 10)]
    assert list(frame["value"]) == [2500.0]


def test_statistics_of_an_entity_without_metadata_are_read_by_their_fields() -> None:
    result = {"sensor.other": [{"start": T0, "end": T0 + HOUR_MS, "sum": 3.0, "mean": None}]}
    frame = statistics_frame(result, {})
    assert list(frame["timestamp"]) == [utc(2024, 11, 18, 11)]
    assert statistics_frame({}, METAS).empty


@pytest.mark.parametrize(
    ("statistic", "entity", "factor"),
    [
        ("kWh", "kWh", 1.0),
        (None, "kWh", 1.0),
        ("Wh", "kWh", 0.001),
        ("kWh", "Wh", 1000.0),
        ("kW", "W", 1000.0),
        ("kWh", "W", None),
        ("°C", "°F", None),
    ],
)
def test_unit_factors_between_statistics_and_entities(
    statistic: str | None, entity: str | None, factor: float | None
) -> None:
    assert unit_factor(statistic, entity) == (pytest.approx(factor) if factor else factor)


def test_urls_and_times_sent_to_home_assistant() -> None:
    assert websocket_url("http://ha.local:8123/") == "ws://ha.local:8123/api/websocket"
    assert websocket_url("https://ha.example") == "wss://ha.example/api/websocket"
    berlin = datetime.fromisoformat("2024-11-18T11:00:00+01:00")
    assert ha_time(berlin) == "2024-11-18T10:00:00+00:00"
