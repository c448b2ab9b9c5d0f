"""Several replicas of a role, started by the launcher on the fake three-role mesh.

Each replica is its own process on its own port, every one must be ready before the dependents
start, the dependents see every replica's URL, and one replica killed leaves the others serving.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from aether.deploy.launcher import Deployment, RoleExit
from aether.deploy.loader import load_topology
from aether.deploy.plan import DeploymentPlan, LaunchOptions, resolve
from aether.deploy.ports import free_ports
from tests.deploy_harness import CapturedLog, wait_for, write_fake_topology


class DeployCli:
    """`python -m aether.deploy ARGS` as a child process whose output is collected line by line."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aether.deploy", *args],
            env={**env, "PYTHONUNBUFFERED": "1"},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(
            target=lambda: self.lines.extend(self.process.stdout or []), daemon=True
        )
        self._reader.start()

    def said(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def close(self) -> str:
        """Kills the process if it still runs; everything it printed."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=10)
        return "".join(self.lines)


def without_mesh_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in {"SERVICE_TOKEN", "DATABASE_URL"}}


def replicated_plan(tmp_path: Path) -> DeploymentPlan:
    topology = load_topology(write_fake_topology(tmp_path))
    environment = {k: v for k, v in os.environ.items() if k != "SERVICE_TOKEN"}
    return resolve(
        topology,
        LaunchOptions(
            data_dir=tmp_path / "data",
            environment=environment,
            cwd=tmp_path,
            replicas={"back": 2, "front": 2},
            ports={"back": free_ports(2), "front": free_ports(2)},
        ),
    )


def get_json(url: str) -> dict[str, str]:
    response = httpx.get(url, timeout=10, trust_env=False)
    response.raise_for_status()
    body: dict[str, str] = response.json()
    return body


def test_every_replica_runs_and_is_ready_before_its_dependents_start(tmp_path: Path) -> None:
    plan = replicated_plan(tmp_path)
    log = CapturedLog([process.name for process in plan.processes])
    with Deployment(plan, sink=log.sink, ready_timeout=30, stop_grace=5) as mesh:
        assert sorted(mesh.processes) == ["back#1", "back#2", "front#1", "front#2", "middle"]
        assert [process.name for process in mesh.replicas("back")] == ["back#1", "back#2"]
        back_urls = mesh.replica_urls["back"]
        assert len(back_urls) == 2
        ports = {get_json(f"{url}/env")["PORT"] for url in back_urls}
        assert ports == {url.rsplit(":", 1)[1] for url in back_urls}
        middle = get_json(f"{mesh.urls['middle']}/env")
        assert middle["BACK_URL"] == ",".join(back_urls)
        for url in mesh.replica_urls["front"]:
            front = get_json(f"{url}/env")
            assert front["BACK_URL"] == ",".join(back_urls)
            assert front["MIDDLE_URL"] == mesh.urls["middle"]
        data_dirs = {get_json(f"{url}/env")["AETHER_DATA_DIR"] for url in back_urls}
        assert len(data_dirs) == 2
        processes = mesh.processes
    assert all(process.returncode is not None for process in processes.values())

    lines = log.lines()

    def first(text: str) -> int:
        return next(i for i, line in enumerate(lines) if text in line)

    assert max(first("back#1 ready at"), first("back#2 ready at")) < first("starting middle")
    assert first("middle ready at") < min(first("starting front#1"), first("starting front#2"))
    assert any(re.match(r"back#2 +\| back listening on", line) for line in lines)
    assert first("front#2 stopped") < first("middle stopped") < first("back#1 stopped")


def test_one_replica_killed_is_reported_by_name_and_the_other_keeps_serving(
    tmp_path: Path,
) -> None:
    plan = replicated_plan(tmp_path)
    log = CapturedLog([process.name for process in plan.processes])
    with Deployment(plan, sink=log.sink, ready_timeout=30, stop_grace=5) as mesh:
        first, second = mesh.replicas("back")
        os.kill(first.pid, signal.SIGKILL)
        died = mesh.wait(timeout=30)
        assert died == RoleExit("back#1", -signal.SIGKILL)
        assert get_json(f"{mesh.replica_urls['back'][1]}/health")["role"] == "back"
        assert second.returncode is None
        assert mesh.processes["middle"].returncode is None
    assert "back#1 exited (SIGKILL)" in log.text


def test_the_cli_keeps_serving_while_a_replica_is_left_and_stops_when_none_is(
    tmp_path: Path,
) -> None:
    topology = write_fake_topology(tmp_path)
    args = ["local", "--topology", str(topology), "--data-dir", str(tmp_path / "data")]
    args += ["--replicas", "back=2", "--stop-grace", "5"]
    cli = DeployCli(args, tmp_path, without_mesh_settings())
    try:
        wait_for(lambda: cli.said("every role is ready"), 60, "the mesh to be ready")
        listed = next(line for line in list(cli.lines) if "  back " in line)
        first, second = re.findall(r"http://127\.0\.0\.1:\d+", listed)
        httpx.get(f"{first}/die?code=9", timeout=10, trust_env=False)
        news = "back#1 exited (exit code 9); back#2 still serving"
        wait_for(lambda: cli.said(news), 60, "news")
        assert cli.process.poll() is None
        assert get_json(f"{second}/health")["role"] == "back"
        httpx.get(f"{second}/die?code=7", timeout=10, trust_env=False)
        assert cli.process.wait(timeout=60) == 1
    finally:
        output = cli.close()
    assert "each replica of back gets a SQLite database of its own" in output
    assert "back#2 exited (exit code 7); stopped every other role" in output
    assert "middle stopped" in output


def test_up_with_replicas_starts_local_processes_even_when_compose_works(tmp_path: Path) -> None:
    """The compose files pin one container per role, so replicas are always local processes."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("podman", "podman-compose"):  # an engine and a compose tool that work
        script = tools / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{tmp_path}/calls"\nexit 0\n')
        script.chmod(0o755)
    for name in ("compose.yaml", "compose.distributed.yaml"):
        (tmp_path / name).write_text("services: {}\n")
    topology = write_fake_topology(tmp_path)
    args = ["up", "--topology", str(topology), "--data-dir", str(tmp_path / "data")]
    args += ["--project-dir", str(tmp_path), "--replicas", "back=2"]
    cli = DeployCli(args, tmp_path, {**without_mesh_settings(), "PATH": str(tools)})
    try:
        wait_for(lambda: cli.said("every role is ready"), 60, "ready")
        cli.process.send_signal(signal.SIGTERM)
        assert cli.process.wait(timeout=60) == 0
    finally:
        output = cli.close()
    assert "replicas are started as local processes on ports" in output
    assert "not with podman" in output
    calls = (tmp_path / "calls").read_text()
    assert "podman info" in calls
    assert " up " not in calls  # compose never started anything


def test_free_ports_give_every_replica_a_distinct_port_that_can_be_bound() -> None:
    plan = resolve(
        load_topology(),
        LaunchOptions(environment={}, replicas={"gateway": 2}, free_ports=True),
    )
    ports = [process.port for process in plan.processes]
    assert len(ports) == len(set(ports)) == 5
    assert 8000 not in ports  # not the declared ports: the launcher asked the kernel
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
