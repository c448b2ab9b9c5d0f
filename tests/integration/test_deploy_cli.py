"""`python -m aether.deploy` as a user runs it: signals, exit codes, engine and no-engine paths.

Container engines are stood in for by small shell scripts on PATH that record how they were
called, so the compose and build paths are checked without an engine on the machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from aether.deploy.loader import load_topology
from tests.deploy_harness import wait_for, write_fake_topology


class RunningCli:
    """The launcher CLI in a subprocess, its merged stdout/stderr collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aether.deploy", *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))


@contextmanager
def running_cli(args: list[str], env: dict[str, str], cwd: Path) -> Iterator[RunningCli]:
    cli = RunningCli(args, env, cwd)
    try:
        yield cli
    finally:
        if cli.process.poll() is None:
            cli.process.kill()
            cli.wait()


def fake_tools(directory: Path, tools: dict[str, str]) -> Path:
    """Shell scripts named after the tools; each body sees $LOG, a file to record calls in."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, body in tools.items():
        script = directory / name
        script.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
        script.chmod(0o755)
    return directory


def cli_env(path: Path, log: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SERVICE_TOKEN", "AETHER_DATA_DIR"}}
    env["PATH"] = str(path)
    env["PYTHONUNBUFFERED"] = "1"
    if log is not None:
        env["LOG"] = str(log)
    return env


RECORD = 'echo "$PWD $*" >> "$LOG"'
ENGINE_WORKS = f"{RECORD}\nexit 0"
ENGINE_BROKEN = 'echo "Cannot connect to the engine" >&2\nexit 1'


def test_one_role_dying_stops_all_and_exits_non_zero_naming_it(tmp_path: Path) -> None:
    topology = write_fake_topology(tmp_path)
    ports = {name: spec.port for name, spec in load_topology(topology).roles.items()}
    args = ["local", "--topology", str(topology), "--data-dir", str(tmp_path / "data")]
    with running_cli(args, cli_env(fake_tools(tmp_path / "bin", {})), tmp_path) as cli:
        wait_for(lambda: "every role is ready" in cli.output, what="the mesh to be ready")
        httpx.get(f"http://127.0.0.1:{ports['middle']}/die?code=7", trust_env=False)
        assert cli.wait() == 1
    assert "middle exited (exit code 7); stopped every other role" in cli.output
    assert any(line.startswith("front    | front listening on") for line in cli.lines)
    for role, port in ports.items():
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/health", trust_env=False)
        assert f"{role} stopped" in cli.output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_every_role_and_exits_zero(
    tmp_path: Path, signum: signal.Signals
) -> None:
    topology = write_fake_topology(tmp_path)
    args = ["local", "--topology", str(topology), "--data-dir", str(tmp_path / "data")]
    with running_cli(args, cli_env(fake_tools(tmp_path / "bin", {})), tmp_path) as cli:
        wait_for(lambda: "every role is ready" in cli.output, what="the mesh to be ready")
        cli.process.send_signal(signum)
        assert cli.wait() == 0
    stopped = [line for line in cli.lines if " stopped (" in line]
    assert [line.split("| ")[1].split()[0] for line in stopped] == ["front", "middle", "back"]


def test_up_without_an_engine_says_so_in_one_line_and_runs_local_processes(
    tmp_path: Path,
) -> None:
    tools = fake_tools(tmp_path / "bin", {"docker": ENGINE_BROKEN})
    topology = write_fake_topology(tmp_path)
    ports = sorted(spec.port for spec in load_topology(topology).roles.values())
    args = ["up", "--topology", str(topology), "--data-dir", str(tmp_path / "data")]
    with running_cli(args, cli_env(tools), tmp_path) as cli:
        wait_for(lambda: "every role is ready" in cli.output, what="the mesh to be ready")
        cli.process.send_signal(signal.SIGTERM)
        assert cli.wait() == 0
    notes = [line for line in cli.lines if line.startswith("aether.deploy:")]
    assert notes[0] == (
        "aether.deploy: no container engine: podman is not installed, `docker info` failed; "
        f"starting the roles as local processes on ports {ports[0]}-{ports[-1]} instead"
    )


def test_up_with_a_working_engine_hands_over_to_compose(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    tools = fake_tools(tmp_path / "bin", {"podman": ENGINE_WORKS, "podman-compose": ENGINE_WORKS})
    project = tmp_path / "project"
    project.mkdir()
    for name in ("compose.yaml", "compose.distributed.yaml"):
        (project / name).write_text("services: {}\n")
    cli = RunningCli(["up", "--project-dir", str(project)], cli_env(tools, log), tmp_path)
    assert cli.wait() == 0
    calls = log.read_text().splitlines()
    expected = "-p aether -f compose.yaml -f compose.distributed.yaml --profile full up --build"
    assert f"{project} {expected}" in calls
    assert "podman works; running:" in cli.output


def test_build_makes_one_image_per_role_from_the_containerfile(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    tools = fake_tools(tmp_path / "bin", {"podman": ENGINE_WORKS})
    cli = RunningCli(["build", "--project-dir", str(tmp_path)], cli_env(tools, log), tmp_path)
    assert cli.wait() == 0
    builds = [line for line in log.read_text().splitlines() if " build " in f" {line} "]
    assert builds == [
        f"{tmp_path} build --build-arg AETHER_SERVICE={role} -t aether-{role}:latest "
        "-f Containerfile.service ."
        for role in ("gateway", "architect", "ds-orchestrator", "ds-analysts")
    ]


def test_build_without_an_engine_says_there_is_none(tmp_path: Path) -> None:
    tools = fake_tools(tmp_path / "bin", {"docker": ENGINE_BROKEN})
    cli = RunningCli(["build"], cli_env(tools), tmp_path)
    assert cli.wait() == 1
    assert cli.lines == [
        "aether.deploy: no container engine: podman is not installed, `docker info` failed; "
        "no image built"
    ]


def test_an_invalid_topology_exits_2_with_the_reason(tmp_path: Path) -> None:
    topology = tmp_path / "bad.yaml"
    topology.write_text(
        "name: bad\nroles:\n  a: {port: 1, command: [x], depends_on: [b]}\n", encoding="utf-8"
    )
    cli = RunningCli(["local", "--topology", str(topology)], cli_env(tmp_path), tmp_path)
    assert cli.wait() == 2
    assert "role 'a' depends on unknown role 'b' (known: a)" in cli.output


def test_a_second_stop_signal_kills_a_role_that_ignores_the_first(tmp_path: Path) -> None:
    topology = write_fake_topology(tmp_path, {"back": ["--ignore-sigterm"]})
    args = ["local", "--topology", str(topology), "--data-dir", str(tmp_path / "data")]
    args += ["--stop-grace", "120"]
    with running_cli(args, cli_env(fake_tools(tmp_path / "bin", {})), tmp_path) as cli:
        wait_for(lambda: "every role is ready" in cli.output, what="the mesh to be ready")
        cli.process.send_signal(signal.SIGINT)
        wait_for(lambda: "middle stopped" in cli.output, what="middle to stop")
        assert "back stopped" not in cli.output  # it ignores SIGTERM; the grace is long
        cli.process.send_signal(signal.SIGINT)
        assert cli.wait(timeout=30) == 0
    assert "back stopped (SIGKILL)" in cli.output
