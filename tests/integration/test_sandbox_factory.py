"""Which runner the settings get: gVisor when it works, the process fallback (loudly) when it
does not, and a one-line refusal when the settings demand gVisor that is not there."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import httpx
import pytest

from aether import cli
from aether.config import load_settings
from aether.sandbox.factory import create_runner, open_runner
from aether.sandbox.gvisor_runner import GVisorRunner
from aether.sandbox.jobs import SandboxUnavailable
from aether.sandbox.scripts import ScriptJob
from aether.sandbox.subprocess_runner import SubprocessRunner
from tests.gateway_harness import running_gateway
from tests.integration.test_sandbox_gvisor import require_runsc

MISSING = "/nonexistent/runsc"
UNAVAILABLE = f"{MISSING} not found on PATH (install the runsc package)"


@pytest.fixture(autouse=True)
def shared_root_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session's root cache (see test_sandbox_gvisor.root_cache), not the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg"))


def empty_sandbox_cgroups() -> set[Path]:
    """Sandbox cgroups without a task: what a removed sandbox would have left behind."""
    found = set()
    for tasks in Path("/sys/fs/cgroup").glob("*/aether-sandbox/aether-*/tasks"):
        with contextlib.suppress(OSError):
            if not tasks.read_text().strip():
                found.add(tasks.parent)
    return found


async def test_auto_uses_gvisor_when_it_works(tmp_path: Path) -> None:
    require_runsc()
    settings = load_settings(aether_data_dir=tmp_path, sandbox_pool_size=1)
    before = empty_sandbox_cgroups()

    async with open_runner(settings) as runner:
        outcome = await runner.run_script(ScriptJob(script="print('inside')"))

    assert isinstance(runner, GVisorRunner)
    assert runner.description.startswith("gvisor (runsc ")
    assert (outcome.runner, outcome.stdout) == ("gvisor", "inside\n")
    assert list((tmp_path / "sandbox").iterdir()) == []
    assert empty_sandbox_cgroups() <= before  # as root the sandboxes had cgroups: all removed


async def test_auto_falls_back_to_processes_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(aether_data_dir=tmp_path, sandbox_runsc=MISSING)

    with caplog.at_level(logging.WARNING):
        runner = await create_runner(settings)

    assert isinstance(runner, SubprocessRunner)
    assert runner.description == f"subprocess (gVisor unavailable: {UNAVAILABLE})"
    assert "not in gVisor" in caplog.text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"environment": "production"},
            f"ENVIRONMENT=production requires gVisor, which is unavailable: {UNAVAILABLE}",
        ),
        (
            {"sandbox": "gvisor"},
            f"SANDBOX=gvisor requires gVisor, which is unavailable: {UNAVAILABLE}",
        ),
        (
            {"environment": "production", "sandbox": "process"},
            "SANDBOX=process is not allowed with ENVIRONMENT=production: "
            "analysis jobs must run in gVisor",
        ),
    ],
)
async def test_settings_that_demand_gvisor_refuse_to_start_without_it(
    tmp_path: Path, overrides: dict[str, str], message: str
) -> None:
    settings = load_settings(aether_data_dir=tmp_path, sandbox_runsc=MISSING, **overrides)

    with pytest.raises(SandboxUnavailable) as raised:
        await create_runner(settings)

    assert str(raised.value) == message


def test_health_reports_the_fallback_and_its_reason(tmp_path: Path) -> None:
    with running_gateway(tmp_path, sandbox_runsc=MISSING) as gateway:
        health = httpx.get(f"{gateway.base_url}/health", timeout=30).json()

    assert health["sandbox"] == f"subprocess (gVisor unavailable: {UNAVAILABLE})"


def test_serve_in_production_without_gvisor_stops_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AETHER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SANDBOX_RUNSC", MISSING)

    handlers = logging.getLogger().handlers[:]

    assert cli.main(["serve"]) == 2

    logging.getLogger().handlers[:] = handlers
    assert capsys.readouterr().err == (
        f"aether: ENVIRONMENT=production requires gVisor, which is unavailable: {UNAVAILABLE}\n"
    )
