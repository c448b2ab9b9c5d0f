"""`aether data import` and `aether analyze` as a user runs them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aether.analysis.findings import AnalysisParams
from aether.analysis.registry import run_analysis
from aether.cli import main
from aether.data.demo import generate_demo_household
from aether.data.files import write_long_format
from aether.data.loading import load_for_analysis
from aether.data.memory import MemoryHouseholdSource
from aether.data.parquet_store import has_household, read_household
from aether.data.source import HouseholdData
from tests.fakes.home_assistant import FAKE_TOKEN, FakeHomeAssistant, running_fake_home_assistant
from tests.servers import free_port

TZ = "Europe/Berlin"


@pytest.fixture(scope="module")
def household() -> HouseholdData:
    """Relative to the real clock, as `aether analyze` reads it."""
    return generate_demo_household(datetime.now(UTC), days=14, timezone=TZ)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AETHER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HOUSEHOLD_TIMEZONE", TZ)
    monkeypatch.setenv("DEMO_DAYS", "14")
    for name in ("DATA_SOURCE", "HA_URL", "HA_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def home_assistant(household: HouseholdData) -> Iterator[str]:
    fake = FakeHomeAssistant(household, now=datetime.now(UTC), keep_days=30)
    with running_fake_home_assistant(fake) as url:
        yield url


def last_week() -> tuple[str, str]:
    today = datetime.now(ZoneInfo(TZ)).date()
    return (today - timedelta(days=7)).isoformat(), (today - timedelta(days=1)).isoformat()


async def expected_results(data: HouseholdData, params: AnalysisParams) -> dict[str, object]:
    loaded = await load_for_analysis(MemoryHouseholdSource(data), params)
    return {
        analyst: run_analysis(analyst, loaded.frame, loaded.entities, params).model_dump(
            mode="json"
        )
        for analyst in ("energy", "diagnostic")
    }


def test_analyze_json_from_home_assistant_matches_run_analysis(
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    household: HouseholdData,
    home_assistant: str,
) -> None:
    monkeypatch.setenv("HA_URL", home_assistant)
    monkeypatch.setenv("HA_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("TARIFF", "0.32 EUR")
    first, last = last_week()
    argv = ["analyze", "--source", "homeassistant", "--analyst", "energy"]
    argv += ["--analyst", "diagnostic", "--from", first, "--to", last, "--json"]
    assert main(argv) == 0
    document = json.loads(capsys.readouterr().out)
    params = AnalysisParams.model_validate(document["params"])
    assert params.timezone == TZ
    assert params.tariff is not None  # TARIFF applies as on the chat path
    assert params.window_end - params.window_start == timedelta(days=7)
    assert params.window_start.astimezone(ZoneInfo(TZ)).hour == 0
    assert document["source"] == "homeassistant"
    assert document["results"] == asyncio.run(expected_results(household, params))


def test_analyze_a_file_directly_and_after_import(
    env: Path, capsys: pytest.CaptureFixture[str], household: HouseholdData
) -> None:
    path = env / "house.csv"
    write_long_format(household, path)
    first, last = last_week()
    window = ["--from", first, "--to", last, "--analyst", "energy"]
    assert main(["analyze", "--source", str(path), *window, "--json"]) == 0
    direct = json.loads(capsys.readouterr().out)
    assert main(["data", "import", str(path)]) == 0
    said = capsys.readouterr().out
    assert f"Imported {len(household.frame)} new states of 11 entities" in said
    assert main(["analyze", "--source", "files", *window, "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert direct["results"] == after["results"]
    assert main(["analyze", "--source", "files", *window]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"Window: {first} to {last} (Europe/Berlin)\n\nenergy: ")
    assert "- Total consumption (" in text
    assert " kWh" in text


def test_import_of_an_invalid_file_names_the_rows_and_writes_nothing(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = env / "bad.csv"
    path.write_text(
        "entity_id,timestamp,state,unit\n"
        "sensor.a,2024-11-18T00:00:00Z,1,kWh\n"
        "sensor.a,2024-11-18T00:15:00,2,kWh\n",
        encoding="utf-8",
    )
    assert main(["data", "import", str(path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"aether: {path}: 1 problem:\n  row 2: timestamp '2024-11-18T00:15:00'")
    assert not has_household(env / "var" / "imported")


def test_import_replace_and_merge(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = env / "one.csv"
    one.write_text("entity_id,timestamp,state,unit\nsensor.a,2024-11-18T00:00:00Z,1,kWh\n")
    two = env / "two.csv"
    two.write_text("entity_id,timestamp,state,unit\nsensor.b,2024-11-18T00:00:00Z,5,W\n")
    assert main(["data", "import", str(one)]) == 0
    assert main(["data", "import", str(two)]) == 0
    assert set(read_household(env / "var" / "imported").entities) == {"sensor.a", "sensor.b"}
    assert main(["data", "import", str(two), "--replace"]) == 0
    assert set(read_household(env / "var" / "imported").entities) == {"sensor.b"}
    assert "written to" in capsys.readouterr().out.splitlines()[-1]


def test_analyze_reports_source_problems_in_one_line(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", "--source", "homeassistant"]) == 2
    assert capsys.readouterr().err == (
        "aether: invalid setting: HA_URL and HA_TOKEN: must be set when DATA_SOURCE=homeassistant\n"
    )
    monkeypatch.setenv("HA_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("HA_TOKEN", "t")
    assert main(["analyze", "--source", "homeassistant"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("aether: Cannot reach Home Assistant at http://127.0.0.1:")
    assert main(["analyze", "--source", "files"]) == 1
    assert "aether data import FILE" in capsys.readouterr().err
    assert main(["analyze", "--source", "demo", "--from", "2024-11-01"]) == 1
    assert "give both --from and --to" in capsys.readouterr().err


def test_analyze_json_as_a_command(tmp_path: Path) -> None:
    """The installed command on the demo household, as a script would run it."""
    result = subprocess.run(
        [sys.executable, "-m", "aether.cli", "analyze", "--analyst", "energy", "--json"],
        env={"PATH": "/usr/bin:/bin", "AETHER_DATA_DIR": str(tmp_path / "var"), "DEMO_DAYS": "14"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert list(document["results"]) == ["energy"]
    assert document["source"] == "demo"
    findings = document["results"]["energy"]["findings"]
    assert any(metric["unit"] == "kWh" for f in findings for metric in f["metrics"])
    data = read_household(tmp_path / "var" / "household")
    assert len(data.entities) == 11


def test_serve_refuses_home_assistant_without_url_and_token(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATA_SOURCE", "homeassistant")
    monkeypatch.setenv("HA_TOKEN", "t")
    assert main(["serve"]) == 2
    assert capsys.readouterr().err == (
        "aether: invalid setting: HA_URL: must be set when DATA_SOURCE=homeassistant\n"
    )
