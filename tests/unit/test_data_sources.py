"""DATA_SOURCE -> a source, the settings each kind needs, and how the analysts report a source
that fails (an error event, never a crash)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from aether.agents.analysts.team import AnalystTeam
from aether.agents.contract import AgentName, AgentRequest, ErrorEvent, StatusEvent
from aether.analysis.schema import EntityMeta
from aether.config import load_settings
from aether.data.errors import NOT_CONFIGURED, UNAUTHORIZED, DataSourceError
from aether.data.factory import (
    build_source,
    demo_dir,
    home_assistant_options,
    import_dir,
    open_source,
    settings_problem,
    source_timezone,
)
from aether.data.homeassistant.source import HomeAssistantSource
from aether.data.parquet_store import ParquetHouseholdSource, has_household
from aether.data.source import HouseholdData
from aether.sandbox.jobs import AnalysisJob, JobOutcome
from aether.sandbox.policy import Policies
from tests.servers import free_port

NOW = datetime(2024, 11, 20, 10, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


def test_home_assistant_needs_a_url_and_a_token(tmp_path: Path) -> None:
    settings = load_settings(aether_data_dir=tmp_path, data_source="homeassistant")
    assert settings_problem(settings) == (
        "HA_URL and HA_TOKEN: must be set when DATA_SOURCE=homeassistant"
    )
    assert settings_problem(settings, "demo") is None
    with pytest.raises(DataSourceError) as info:
        build_source(settings, clock)
    assert info.value.code == NOT_CONFIGURED
    partial = load_settings(aether_data_dir=tmp_path, ha_url="http://ha.local:8123")
    assert settings_problem(partial, "homeassistant") == (
        "HA_TOKEN: must be set when DATA_SOURCE=homeassistant"
    )


def test_home_assistant_settings_reach_the_source(tmp_path: Path) -> None:
    settings = load_settings(
        aether_data_dir=tmp_path,
        data_source="homeassistant",
        ha_url="http://ha.local:8123/",
        ha_token="secret",
        ha_timeout_seconds=4,
        ha_batch_entities=3,
        ha_batch_days=0.5,
        ha_history_days=20,
        ha_entities="sensor.*_power, light.kitchen",
        ha_minimal_response=True,
    )
    options = home_assistant_options(settings)
    assert options.url == "http://ha.local:8123"
    assert options.token == "secret"
    assert (options.timeout_seconds, options.batch_entities, options.batch_days) == (4, 3, 0.5)
    assert options.history_days == 20
    assert options.entity_patterns == ("sensor.*_power", "light.kitchen")
    assert options.minimal_response is True
    assert isinstance(build_source(settings, clock), HomeAssistantSource)


async def test_demo_and_files_use_separate_directories(tmp_path: Path) -> None:
    settings = load_settings(aether_data_dir=tmp_path, demo_days=14)
    async with open_source(settings, clock) as source:
        assert isinstance(source, ParquetHouseholdSource)
        assert len(await source.entities()) == 11
        assert await source_timezone(source, settings) == settings.household_timezone
    assert has_household(demo_dir(settings))
    files = build_source(settings, clock, "files")
    assert isinstance(files, ParquetHouseholdSource)
    assert not has_household(import_dir(settings))
    assert demo_dir(settings) != import_dir(settings)


async def test_startup_falls_back_to_the_household_time_zone_when_ha_is_down(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        aether_data_dir=tmp_path,
        data_source="homeassistant",
        ha_url=f"http://127.0.0.1:{free_port()}",
        ha_token="t",
        household_timezone="Europe/Vienna",
    )
    async with open_source(settings, clock) as source:
        assert await source_timezone(source, settings) == "Europe/Vienna"


class FailingSource:
    async def entities(self) -> list[EntityMeta]:
        raise AssertionError("not used")

    async def load(
        self, start: datetime, end: datetime, entity_ids: list[str] | None = None
    ) -> HouseholdData:
        raise DataSourceError(UNAUTHORIZED, "Home Assistant refused the token. Check HA_TOKEN.")


class UnusedRunner:
    name = "unused"
    policies = Policies.scaled(timeout_seconds=60, memory_mb=2048)

    async def run(self, job: AnalysisJob) -> JobOutcome:
        raise AssertionError("the analysis must not run without data")


async def test_a_failing_source_becomes_an_error_event_of_the_analyst() -> None:
    team = AnalystTeam(FailingSource(), UnusedRunner(), clock, "Europe/Berlin")
    request = AgentRequest(run_id="r1", agent=AgentName.ENERGY_ANALYST, question="last week?")
    events = [event async for event in team.stream(request)]
    assert isinstance(events[0], StatusEvent)
    assert events[-1] == ErrorEvent(
        agent=AgentName.ENERGY_ANALYST,
        code="data_source_unauthorized",
        message="Home Assistant refused the token. Check HA_TOKEN.",
    )
    assert len(events) == 2
