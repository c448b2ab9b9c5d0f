"""The Home Assistant source against the fake Home Assistant (real HTTP and WebSocket on
loopback): what it loads, how it batches, where it falls back to statistics, how it fails."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aether.analysis.frames import long_frame
from aether.analysis.registry import run_analysis
from aether.analysis.schema import EntityMeta
from aether.data.demo import generate_demo_household
from aether.data.errors import (
    TIMEOUT,
    UNAUTHORIZED,
    UNKNOWN_ENTITY,
    UNREACHABLE,
    UPSTREAM_ERROR,
    DataSourceError,
)
from aether.data.files import read_household_file
from aether.data.homeassistant.source import HomeAssistantOptions, HomeAssistantSource
from aether.data.homeassistant.websocket import HomeAssistantWebSocket
from aether.data.slicing import slice_household
from aether.data.source import HouseholdData
from tests.fakes.home_assistant import FAKE_TOKEN, FakeHomeAssistant, running_fake_home_assistant
from tests.servers import free_port
from tests.unit import test_analysis_ground_truth as truth
from tests.unit.test_data_files import ev_csv

NOW = datetime(2024, 11, 20, 10, 7, tzinfo=UTC)
DAY = timedelta(days=1)
QUARTER = timedelta(minutes=15)
D0 = datetime(2024, 10, 31, 0, 0, tzinfo=UTC)
"""Start of the small ground-truth household; NOW is 20 days and 10 hours later."""


def source(url: str, **options: object) -> HomeAssistantSource:
    return HomeAssistantSource(
        HomeAssistantOptions(url=url, token=FAKE_TOKEN, **options),  # type: ignore[arg-type]
        lambda: NOW,
    )


async def load(
    url: str, start: datetime, end: datetime, ids: list[str] | None = None, **options: object
) -> HouseholdData:
    ha = source(url, **options)
    try:
        return await ha.load(start, end, ids)
    finally:
        await ha.aclose()


def ground_truth() -> HouseholdData:
    """A meter rising 1 kWh per hour, a power sensor alternating 1000/2000 W every quarter hour
    (1500 W on average in every hour), a heater switched rarely, a temperature without
    state_class, and a fridge whose reading repeats."""
    quarters = [D0 + i * QUARTER for i in range(20 * 96 + 40)]
    meter = long_frame(
        "sensor.meter", quarters, [f"{100 + 0.25 * i:.2f}" for i in range(len(quarters))]
    )
    power = long_frame(
        "sensor.power",
        quarters,
        ["1000.0" if i % 2 == 0 else "2000.0" for i in range(len(quarters))],
    )
    fridge = long_frame("sensor.fridge", quarters, ["80.0"] * len(quarters))
    heater = long_frame(
        "switch.heater",
        [D0, D0 + timedelta(hours=1), D0 + 12 * DAY, D0 + 12 * DAY + timedelta(hours=3)],
        ["on", "off", "on", "unavailable"],
    )
    temperature = long_frame("sensor.temperature", quarters[::8], ["20.5"] * len(quarters[::8]))
    frame = pd.concat([fridge, heater, meter, power, temperature], ignore_index=True)
    entities = {
        "sensor.meter": EntityMeta(
            entity_id="sensor.meter",
            friendly_name="Meter",
            unit="kWh",
            device_class="energy",
            state_class="total_increasing",
        ),
        "sensor.power": EntityMeta(
            entity_id="sensor.power",
            friendly_name="Power",
            unit="W",
            device_class="power",
            state_class="measurement",
        ),
        "sensor.fridge": EntityMeta(
            entity_id="sensor.fridge", friendly_name="Fridge", unit="W", state_class="measurement"
        ),
        "switch.heater": EntityMeta(entity_id="switch.heater", friendly_name="Heater"),
        "sensor.temperature": EntityMeta(
            entity_id="sensor.temperature", friendly_name="Temperature", unit="°C"
        ),
    }
    return HouseholdData(frame=frame, entities=entities, timezone="America/New_York")


@pytest.fixture(scope="module")
def demo() -> HouseholdData:
    return generate_demo_household(NOW, days=30)


@pytest.fixture(scope="module")
def demo_ha(demo: HouseholdData) -> Iterator[tuple[str, FakeHomeAssistant]]:
    fake = FakeHomeAssistant(demo, now=NOW, keep_days=60)
    with running_fake_home_assistant(fake) as url:
        yield url, fake


@pytest.fixture(scope="module")
def truth_ha() -> Iterator[tuple[str, FakeHomeAssistant]]:
    fake = FakeHomeAssistant(ground_truth(), now=NOW, keep_days=10)
    with running_fake_home_assistant(fake) as url:
        yield url, fake


def assert_same(got: HouseholdData, expected: HouseholdData) -> None:
    pd.testing.assert_frame_equal(got.frame, expected.frame)
    assert got.entities == expected.entities
    assert got.timezone == expected.timezone


async def test_a_week_from_home_assistant_is_the_demo_household_week(
    demo: HouseholdData, demo_ha: tuple[str, FakeHomeAssistant]
) -> None:
    start, end = datetime(2024, 11, 11, 23, tzinfo=UTC), datetime(2024, 11, 18, 23, tzinfo=UTC)
    assert_same(await load(demo_ha[0], start, end), slice_household(demo, start, end))


async def test_small_batches_give_the_same_rows(
    demo: HouseholdData, demo_ha: tuple[str, FakeHomeAssistant]
) -> None:
    url, fake = demo_ha
    start, end = datetime(2024, 11, 16, 5, 10, tzinfo=UTC), datetime(2024, 11, 18, 7, tzinfo=UTC)
    before = len(fake.requests)
    got = await load(url, start, end, batch_entities=4, batch_days=0.5)
    history = [r for r in fake.requests[before:] if r.startswith("/api/history/period/")]
    assert_same(got, slice_household(demo, start, end))
    # 11 entities in 3 requests by entity, 5 half-days from an hour before the start.
    assert len([r for r in history if "skip_initial_state" not in r]) >= 3
    assert len(history) >= 3 * 5
    assert all("no_attributes" in r and "significant_changes_only=0" in r for r in history)


async def test_a_state_recorded_exactly_at_the_start_is_in_the_window(
    truth_ha: tuple[str, FakeHomeAssistant],
) -> None:
    start = D0 + 15 * DAY
    data = await load(truth_ha[0], start, start + timedelta(hours=1), ["sensor.meter"])
    times = list(data.frame["timestamp"])
    assert times[0] == pd.Timestamp(start - QUARTER)
    assert times[1] == pd.Timestamp(start)
    assert list(data.frame["value"])[:2] == [100 + 0.25 * (15 * 96 - 1), 100 + 0.25 * 15 * 96]


async def test_the_state_before_the_window_keeps_the_time_it_was_recorded(
    truth_ha: tuple[str, FakeHomeAssistant],
) -> None:
    """HA stamps the state at a request's start with that start; the source looks further
    back (an hour, a day, the short history) for when it was really recorded."""
    start = D0 + 14 * DAY
    data = await load(truth_ha[0], start, start + DAY, ["switch.heater"])
    rows = list(zip(data.frame["timestamp"], data.frame["state"], strict=True))
    assert rows == [(pd.Timestamp(D0 + 12 * DAY + timedelta(hours=3)), "unavailable")]


async def test_home_assistant_s_time_zone_and_selected_entities(
    truth_ha: tuple[str, FakeHomeAssistant],
) -> None:
    ha = source(truth_ha[0])
    try:
        assert await ha.timezone() == "America/New_York"
        names = sorted(m.entity_id for m in await ha.entities())
        assert names == ["sensor.fridge", "sensor.meter", "sensor.power", "switch.heater"]
    finally:
        await ha.aclose()
    start = D0 + 15 * DAY
    chosen = await load(truth_ha[0], start, start + DAY, entity_patterns=("sensor.t*",))
    assert set(chosen.entities) == {"sensor.temperature"}
    assert chosen.timezone == "America/New_York"


async def test_minimal_response_drops_repeated_readings_full_history_keeps_them(
    truth_ha: tuple[str, FakeHomeAssistant],
) -> None:
    start = D0 + 15 * DAY
    full = await load(truth_ha[0], start, start + DAY, ["sensor.fridge", "sensor.power"])
    minimal = await load(
        truth_ha[0], start, start + DAY, ["sensor.fridge", "sensor.power"], minimal_response=True
    )
    count = full.frame["entity_id"].value_counts()
    assert (count["sensor.fridge"], count["sensor.power"]) == (97, 97)
    kept = minimal.frame["entity_id"].value_counts()
    assert kept["sensor.power"] == 97
    assert kept["sensor.fridge"] == 1  # the one reading before the window; HA drops the rest


@pytest.mark.parametrize("iso_times", [False, True])
async def test_ranges_older_than_the_short_history_come_from_hourly_statistics(
    iso_times: bool,
) -> None:
    fake = FakeHomeAssistant(ground_truth(), now=NOW, keep_days=10, iso_statistics_times=iso_times)
    with running_fake_home_assistant(fake) as url:
        start, end = D0 + 2 * DAY, D0 + 4 * DAY
        data = await load(url, start, end)
    assert any(r == "ws:recorder/statistics_during_period" for r in fake.requests)
    frame = data.frame
    meter = frame[frame["entity_id"] == "sensor.meter"]
    times = pd.DatetimeIndex(meter["timestamp"])
    # One reading per hour, at its end: the window's 48 and the one before it.
    assert times[0] == pd.Timestamp(start - timedelta(hours=1))
    assert (np.diff(times.asi8) == 3_600_000_000_000).all()
    assert len(meter) == 49
    # The reading at each hour's end is the last before it (hh:45): 100 + 0.25 * (4h + 3).
    hours = (times - pd.Timestamp(D0)).total_seconds() / 3600
    assert np.allclose(meter["value"], 100 + 0.25 * (4 * (hours - 1) + 3))
    power = frame[frame["entity_id"] == "sensor.power"]
    assert len(power) == 49
    assert set(power["value"]) == {1500.0}
    assert "switch.heater" not in set(frame["entity_id"])  # no statistics without state_class


async def test_a_window_across_the_short_history_joins_statistics_and_states(
    truth_ha: tuple[str, FakeHomeAssistant],
) -> None:
    url, _ = truth_ha
    ha = source(url)
    cutoff = ha.history_cutoff()
    await ha.aclose()
    assert cutoff == datetime(2024, 11, 10, 11, tzinfo=UTC)
    data = await load(url, cutoff - DAY, cutoff + 2 * DAY, ["sensor.meter", "switch.heater"])
    meter = data.frame[data.frame["entity_id"] == "sensor.meter"]
    times = pd.DatetimeIndex(meter["timestamp"])
    assert times.is_monotonic_increasing
    assert times.is_unique
    older, recent = times[times < pd.Timestamp(cutoff)], times[times >= pd.Timestamp(cutoff)]
    assert (older.minute == 0).all()
    assert len(older) == 24 + 1
    assert len(recent) == 2 * 96
    values = meter["value"].to_numpy()
    assert (np.diff(values) > 0).all()
    # The heater's states before the short history are purged and it has no statistics.
    heater = data.frame[data.frame["entity_id"] == "switch.heater"]
    assert list(heater["state"]) == ["on", "unavailable"]


async def test_a_wrong_token_is_refused_with_a_clear_error(
    truth_ha: tuple[str, FakeHomeAssistant],
) -> None:
    url, _ = truth_ha
    ha = HomeAssistantSource(HomeAssistantOptions(url=url, token="wrong"), lambda: NOW)
    with pytest.raises(DataSourceError) as info:
        await ha.load(D0 + 15 * DAY, D0 + 16 * DAY)
    await ha.aclose()
    assert info.value.code == UNAUTHORIZED
    assert "HTTP 401" in str(info.value)
    assert "HA_TOKEN" in str(info.value)
    with pytest.raises(DataSourceError) as ws_info:
        async with HomeAssistantWebSocket(url, "wrong", 5):
            pass
    assert ws_info.value.code == UNAUTHORIZED
    assert "Invalid access token" in str(ws_info.value)


async def test_an_unknown_entity_is_named(truth_ha: tuple[str, FakeHomeAssistant]) -> None:
    with pytest.raises(DataSourceError) as info:
        await load(truth_ha[0], D0 + 15 * DAY, D0 + 16 * DAY, ["sensor.meter", "sensor.nope"])
    assert info.value.code == UNKNOWN_ENTITY
    assert "sensor.nope" in str(info.value)
    assert "sensor.meter" not in str(info.value)


async def test_slow_down_or_missing_home_assistant_give_clear_errors() -> None:
    fake = FakeHomeAssistant(ground_truth(), now=NOW, delay_seconds=1.0)
    with running_fake_home_assistant(fake) as url:
        with pytest.raises(DataSourceError) as slow:
            await load(url, D0 + 15 * DAY, D0 + 16 * DAY, timeout_seconds=0.2)
        assert slow.value.code == TIMEOUT
        assert "within 0.2 s" in str(slow.value)
        async with HomeAssistantWebSocket(url, FAKE_TOKEN, 0.2) as session:
            with pytest.raises(DataSourceError) as slow_ws:
                await session.command("recorder/list_statistic_ids")
        assert slow_ws.value.code == TIMEOUT
        with pytest.raises(DataSourceError) as missing:
            await load(url + "/nowhere", D0 + 15 * DAY, D0 + 16 * DAY)
        assert missing.value.code == UPSTREAM_ERROR
        assert "HTTP 404" in str(missing.value)
    with pytest.raises(DataSourceError) as down:
        await load(f"http://127.0.0.1:{free_port()}", D0 + 15 * DAY, D0 + 16 * DAY)
    assert down.value.code == UNREACHABLE
    assert "Check HA_URL" in str(down.value)


async def test_websocket_commands_follow_home_assistant_s_protocol(
    truth_ha: tuple[str, FakeHomeAssistant],
) -> None:
    async with HomeAssistantWebSocket(truth_ha[0], FAKE_TOKEN, 5) as session:
        listed = await session.command("recorder/list_statistic_ids", statistic_type="sum")
        assert [item["statistic_id"] for item in listed] == ["sensor.meter"]
        with pytest.raises(DataSourceError) as info:
            await session.command("recorder/statistics_during_period", period="hour")
        assert info.value.code == UPSTREAM_ERROR
        assert "invalid_start_time" in str(info.value)
        with pytest.raises(DataSourceError, match="unknown_command"):
            await session.command("config/nothing")


def energy(household: HouseholdData) -> list[float]:
    result = run_analysis("energy", household.frame, household.entities, truth.params(tariff=None))
    by_entity = truth.finding(result, "consumption_by_entity")
    return [m.value for m in by_entity.metrics if m.name == "energy"]


async def test_a_total_meter_s_last_reset_comes_with_attributes_as_from_the_file(
    tmp_path: Path,
) -> None:
    """The ground truth's `total` EV meter served by HA gives the consumption its CSV import
    gives: only its history batch asks for attributes, whose `last_reset` opens each period."""
    imported = read_household_file(ev_csv(tmp_path), "Europe/Berlin")
    ev = truth.EV
    now = truth.END + DAY
    # The file's first reading is at the source's first lookback marker (an hour before the
    # window), which HA leaves out; one reading before it stands in for the longer history.
    midnight = truth.utc(22, 0)
    earlier = long_frame(ev, [truth.utc(22, 22)], [10.0], [midnight])
    served = HouseholdData(
        frame=pd.concat([earlier, imported.frame], ignore_index=True),
        entities=imported.entities,
        timezone=imported.timezone,
    )
    fake = FakeHomeAssistant(served, now=now, keep_days=10)
    with running_fake_home_assistant(fake) as url:
        ha = HomeAssistantSource(HomeAssistantOptions(url=url, token=FAKE_TOKEN), lambda: now)
        try:
            got = await ha.load(truth.START, truth.END)
        finally:
            await ha.aclose()
    history = [r for r in fake.requests if "history" in r]
    assert history
    assert all("no_attributes" not in r for r in history)
    # Both sources load [start, end) and the reading before it; the file import over the same
    # window is what the data directory's source would load.
    windowed = slice_household(imported, truth.START, truth.END, None)
    pd.testing.assert_frame_equal(got.frame, windowed.frame)
    assert energy(got) == energy(windowed)
    without = HouseholdData(
        frame=got.frame.drop(columns=["last_reset"]), entities=got.entities, timezone=got.timezone
    )
    assert energy(without) < energy(got)
