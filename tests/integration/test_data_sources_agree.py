"""The same analysis gives the same numbers from the demo source, from a CSV and a Parquet import
of the same data (through `aether data import`) and from the fake Home Assistant serving it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aether.agents.planning import plan_analysis
from aether.analysis.findings import AnalysisResult, AnalystName
from aether.analysis.registry import run_analysis
from aether.cli import main
from aether.config import load_settings
from aether.data.demo import generate_demo_household
from aether.data.factory import build_source
from aether.data.files import write_long_format
from aether.data.homeassistant.source import HomeAssistantOptions, HomeAssistantSource
from aether.data.loading import load_for_analysis
from aether.data.parquet_store import ParquetHouseholdSource, write_household
from aether.data.source import DataSource, HouseholdData
from tests.fakes.home_assistant import FAKE_TOKEN, FakeHomeAssistant, running_fake_home_assistant

NOW = datetime(2024, 11, 20, 10, 7, tzinfo=UTC)
ANALYSTS: tuple[AnalystName, ...] = ("energy", "diagnostic", "behavioral")
QUESTIONS = ("How much did I use last week?", "What happened yesterday?", "the last 3 days")


def clock() -> datetime:
    return NOW


@pytest.fixture(scope="module")
def household() -> HouseholdData:
    return generate_demo_household(NOW, days=30)


@pytest.fixture(scope="module")
def home_assistant(household: HouseholdData) -> Iterator[str]:
    with running_fake_home_assistant(FakeHomeAssistant(household, now=NOW, keep_days=60)) as url:
        yield url


def imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: HouseholdData, name: str
) -> DataSource:
    """The household written to a file and imported with `aether data import`."""
    data_dir = tmp_path / name
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AETHER_DATA_DIR", str(data_dir))
    monkeypatch.setenv("HOUSEHOLD_TIMEZONE", data.timezone)
    path = tmp_path / f"household.{name}"
    write_long_format(data, path)
    assert main(["data", "import", str(path)]) == 0
    settings = load_settings()
    return build_source(settings, clock, "files")


async def results(source: DataSource, question: str, timezone: str) -> dict[str, AnalysisResult]:
    params = plan_analysis(question, NOW, timezone)
    data = await load_for_analysis(source, params)
    return {a: run_analysis(a, data.frame, data.entities, params) for a in ANALYSTS}


async def test_demo_files_and_home_assistant_give_the_same_numbers(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    household: HouseholdData,
    home_assistant: str,
) -> None:
    write_household(household, tmp_path / "demo")
    ha = HomeAssistantSource(HomeAssistantOptions(url=home_assistant, token=FAKE_TOKEN), clock)
    sources: dict[str, DataSource] = {
        "demo": ParquetHouseholdSource(tmp_path / "demo"),
        "csv": imported(tmp_path, monkeypatch, household, "csv"),
        "parquet": imported(tmp_path, monkeypatch, household, "parquet"),
        "homeassistant": ha,
    }
    try:
        for question in QUESTIONS:
            expected = await results(sources["demo"], question, household.timezone)
            energy = expected["energy"]
            assert any(m.unit == "kWh" and m.value > 0 for f in energy.findings for m in f.metrics)
            assert expected["diagnostic"].findings
            for name in ("csv", "parquet", "homeassistant"):
                got = await results(sources[name], question, household.timezone)
                for analyst in ANALYSTS:
                    assert got[analyst] == expected[analyst], (name, question, analyst)
    finally:
        await ha.aclose()
