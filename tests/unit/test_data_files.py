"""The long-format file: validation with row numbers, normalisation, import and merge."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from aether.analysis.registry import run_analysis
from aether.analysis.schema import EntityMeta
from aether.data.errors import INVALID_FILE, NO_DATA, DataSourceError
from aether.data.files import (
    InvalidFileError,
    import_household,
    read_household_file,
    write_long_format,
)
from aether.data.parquet_store import ParquetHouseholdSource, read_household
from tests.unit import test_analysis_ground_truth as ground_truth

HEADER = "entity_id,timestamp,state,unit,device_class,state_class,friendly_name\n"
GOOD = HEADER + (
    "sensor.grid_energy,2024-11-18T00:00:00+01:00,4183.271,kWh,energy,total_increasing,Grid\n"
    "sensor.grid_energy,2024-11-18T00:15:00+01:00,4183.400,kWh,energy,total_increasing,Grid\n"
    "Sensor.Grid_Energy ,2024-11-18T00:30:00Z,unavailable,kWh,,,\n"
    "light.kitchen,2024-11-18T06:42:10.5Z,on,,,,Kitchen light\n"
    "light.kitchen,2024-11-18T07:00:00+00:00,off,,,,\n"
)
TZ = "Europe/Berlin"


def write(tmp_path: Path, text: str, name: str = "house.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InvalidFileError) as info:
        read_household_file(path, TZ)
    assert info.value.code == INVALID_FILE
    return [str(error) for error in info.value.errors]


def test_a_valid_csv_becomes_the_long_frame_in_utc(tmp_path: Path) -> None:
    data = read_household_file(write(tmp_path, GOOD), TZ)
    frame = data.frame
    assert list(frame["entity_id"]) == ["sensor.grid_energy"] * 3 + ["light.kitchen"] * 2
    assert frame["timestamp"].iloc[0] == pd.Timestamp(datetime(2024, 11, 17, 23, tzinfo=UTC))
    assert frame["timestamp"].iloc[3] == pd.Timestamp("2024-11-18T06:42:10.5Z")
    assert list(frame["value"].iloc[:2]) == [4183.271, 4183.4]
    assert math.isnan(frame["value"].iloc[2])
    assert list(frame["state"]) == ["4183.271", "4183.400", "unavailable", "on", "off"]
    assert data.timezone == TZ
    assert data.entities == {
        "light.kitchen": EntityMeta(entity_id="light.kitchen", friendly_name="Kitchen light"),
        "sensor.grid_energy": EntityMeta(
            entity_id="sensor.grid_energy",
            friendly_name="Grid",
            unit="kWh",
            device_class="energy",
            state_class="total_increasing",
        ),
    }


def test_optional_columns_may_be_left_out(tmp_path: Path) -> None:
    text = "timestamp,entity_id,unit,state\n2024-11-18T00:00:00Z,sensor.power,W,250\n"
    data = read_household_file(write(tmp_path, text), TZ)
    assert data.entities["sensor.power"] == EntityMeta(
        entity_id="sensor.power", friendly_name="sensor.power", unit="W"
    )


def test_every_bad_row_is_named(tmp_path: Path) -> None:
    text = HEADER + (
        "sensor.ok,2024-11-18T00:00:00Z,1,kWh,,total_increasing,\n"
        "sensor.ok,2024-11-18 00:15:00,2,kWh,,,\n"
        "sensor.ok,yesterday,3,kWh,,,\n"
        "not an id,2024-11-18T00:30:00Z,4,kWh,,,\n"
        "sensor.ok,2024-11-18T00:45:00Z,,kWh,,,\n"
        "sensor.ok,2024-11-18T01:00:00Z,5,Wh,,,\n"
        "sensor.other,2024-11-18T01:00:00Z,5,W,,average,\n"
        "sensor.ok,,6,kWh,,,\n"
    )
    assert problems(write(tmp_path, text)) == [
        "row 2: timestamp '2024-11-18 00:15:00' has no time zone (add Z or +01:00)",
        "row 3: timestamp 'yesterday' is not an ISO 8601 time",
        "row 4: entity_id 'not an id' is not a Home Assistant entity id (domain.name)",
        "row 5: state is empty (use unknown or unavailable)",
        "row 6: unit 'Wh' of sensor.ok differs from 'kWh' on an earlier row",
        "row 7: state_class 'average' is not one of measurement, total, total_increasing",
        "row 8: timestamp is empty",
    ]


def test_missing_columns_unknown_types_and_empty_files_are_refused(tmp_path: Path) -> None:
    missing = problems(write(tmp_path, "entity_id,time,state\nsensor.a,2024-11-18T00:00Z,1\n"))
    assert missing == ["missing column timestamp, unit (found: entity_id, time, state)"]
    assert problems(write(tmp_path, HEADER)) == ["no rows"]
    assert problems(write(tmp_path, GOOD, "house.xlsx")) == [
        "unknown file type .xlsx: use .csv or .parquet"
    ]
    assert problems(tmp_path / "absent.csv") == ["no such file"]


def test_the_error_message_shows_the_first_problems_and_counts_the_rest(tmp_path: Path) -> None:
    rows = "".join(f"sensor.x,2024-11-18T00:{i:02d}:00,1,W,,,\n" for i in range(30))
    with pytest.raises(InvalidFileError) as info:
        read_household_file(write(tmp_path, HEADER + rows), TZ)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'house.csv'}: 30 problems:\n  row 1: timestamp")
    assert "row 20:" in message
    assert "row 21:" not in message
    assert message.endswith("… and 10 more")


def test_parquet_with_typed_columns(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "entity_id": ["sensor.power", "sensor.power"],
            "timestamp": pd.to_datetime(["2024-11-18T00:00:00Z", "2024-11-18T00:15:00Z"]),
            "state": [250.0, 260.5],
            "unit": ["W", None],
        }
    )
    table.to_parquet(tmp_path / "house.parquet")
    data = read_household_file(tmp_path / "house.parquet", TZ)
    assert list(data.frame["value"]) == [250.0, 260.5]
    assert list(data.frame["state"]) == ["250.0", "260.5"]
    assert data.entities["sensor.power"].unit == "W"


def test_parquet_timestamps_without_a_zone_are_refused(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "entity_id": ["sensor.power"],
            "timestamp": pd.to_datetime(["2024-11-18T00:00:00"]),
            "state": ["250"],
            "unit": ["W"],
        }
    )
    table.to_parquet(tmp_path / "naive.parquet")
    assert problems(tmp_path / "naive.parquet") == [
        "column timestamp has no time zone: store it as UTC or with an offset"
    ]


def test_import_writes_merges_without_duplicates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "imported"
    first = import_household(write(tmp_path, GOOD), target, TZ)
    assert (first.rows, first.entities, first.total_rows, first.merged) == (5, 2, 5, False)
    again = import_household(write(tmp_path, GOOD), target, TZ)
    assert (again.rows, again.total_rows, again.merged) == (0, 5, True)
    later = HEADER + "sensor.water,2024-11-18T08:00:00Z,12.5,m³,water,total_increasing,Water\n"
    merged = import_household(write(tmp_path, later, "later.csv"), target, TZ)
    assert (merged.rows, merged.total_rows, merged.total_entities) == (1, 6, 3)
    household = read_household(target)
    assert set(household.entities) == {"sensor.grid_energy", "light.kitchen", "sensor.water"}
    replaced = import_household(write(tmp_path, later, "later.csv"), target, TZ, replace=True)
    assert (replaced.total_rows, replaced.total_entities, replaced.merged) == (1, 1, False)


def test_merging_a_unit_change_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "imported"
    import_household(write(tmp_path, GOOD), target, TZ)
    in_wh = HEADER + "sensor.grid_energy,2024-11-19T00:00:00Z,4183500,Wh,energy,total_increasing,\n"
    with pytest.raises(InvalidFileError, match="is in kWh in the data directory and in Wh"):
        import_household(write(tmp_path, in_wh, "wh.csv"), target, TZ)
    assert len(read_household(target).frame) == 5


def test_a_written_file_imports_back_to_the_same_household(tmp_path: Path) -> None:
    data = read_household_file(write(tmp_path, GOOD), TZ)
    for name in ("again.csv", "again.parquet"):
        write_long_format(data, tmp_path / name)
        back = read_household_file(tmp_path / name, TZ)
        pd.testing.assert_frame_equal(back.frame, data.frame)
        assert back.entities == data.entities


async def test_the_files_source_without_an_import_says_what_to_do(tmp_path: Path) -> None:
    source = ParquetHouseholdSource(tmp_path / "imported")
    with pytest.raises(DataSourceError) as info:
        await source.entities()
    assert info.value.code == NO_DATA
    assert "aether data import FILE" in str(info.value)


def ev_csv(tmp_path: Path) -> Path:
    """The ground truth's `total` EV meter (two and more last_reset periods) as a CSV in local
    time, so the file path and the hand-built frame can be compared number for number."""
    frame = ground_truth.ev_frame()
    lines = [HEADER.strip() + ",last_reset"]
    for stamp, state, reset in zip(
        frame["timestamp"], frame["state"], frame["last_reset"], strict=True
    ):
        local, reset_local = stamp.tz_convert(ground_truth.BERLIN), reset.tz_convert(TZ)
        lines.append(
            f"{ground_truth.EV},{local.isoformat()},{state},kWh,energy,total,Ev,"
            f"{reset_local.isoformat()}"
        )
    return write(tmp_path, "\n".join(lines) + "\n")


def test_last_reset_of_a_total_meter_is_imported_and_counted_per_period(tmp_path: Path) -> None:
    import_household(ev_csv(tmp_path), tmp_path / "data", TZ)
    household = read_household(tmp_path / "data")
    assert household.frame["last_reset"].notna().all()
    result = run_analysis(
        "energy", household.frame, household.entities, ground_truth.params(tariff=None)
    )
    by_entity = ground_truth.finding(result, "consumption_by_entity")
    energy = [m.value for m in by_entity.metrics if m.name == "energy"]
    assert energy == [40.0]
    ev = next(e for e in by_entity.evidence if e.entity_id == ground_truth.EV)
    assert len(ev.data["metering_periods"]) == 5


def test_last_reset_may_be_empty_but_must_be_a_zoned_time(tmp_path: Path) -> None:
    text = (
        HEADER.strip()
        + ",last_reset\n"
        + (
            "sensor.ev,2024-11-18T00:00:00Z,1.0,kWh,energy,total,EV,\n"
            "sensor.ev,2024-11-18T01:00:00Z,2.0,kWh,energy,total,EV,yesterday\n"
            "sensor.ev,2024-11-18T02:00:00Z,3.0,kWh,energy,total,EV,2024-11-18T00:00:00\n"
            "sensor.ev,2024-11-18T03:00:00Z,0.5,kWh,energy,total,EV,2024-11-18T03:00:00+01:00\n"
        )
    )
    assert problems(write(tmp_path, text)) == [
        "row 2: last_reset 'yesterday' is not an ISO 8601 time",
        "row 3: last_reset '2024-11-18T00:00:00' has no time zone (add Z or +01:00)",
    ]
    lines = text.splitlines()
    good = "\n".join([lines[0], lines[1], lines[4]]) + "\n"
    frame = read_household_file(write(tmp_path, good, "good.csv"), TZ).frame
    assert frame["last_reset"].isna().tolist() == [True, False]
    assert frame["last_reset"].iloc[1] == pd.Timestamp(datetime(2024, 11, 18, 2, tzinfo=UTC))


def test_last_reset_survives_parquet_and_the_long_format_round_trip(tmp_path: Path) -> None:
    household = read_household_file(ev_csv(tmp_path), TZ)
    for name in ("again.csv", "again.parquet"):
        write_long_format(household, tmp_path / name)
        again = read_household_file(tmp_path / name, TZ)
        pd.testing.assert_series_equal(again.frame["last_reset"], household.frame["last_reset"])
