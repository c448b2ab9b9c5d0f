"""The launcher, as a library, on a fake three-role mesh (front -> middle -> back) of processes.

The fake roles refuse to start while a dependency is not ready, so a wrong start order fails the
test by itself; every role listens on a free loopback port and is stopped by the test.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import httpx
import pytest

from aether.deploy.errors import LaunchInterrupted, NotReadyError, PortInUseError
from aether.deploy.launcher import Deployment, RoleExit
from aether.deploy.loader import load_topology
from aether.deploy.plan import DeploymentPlan, LaunchOptions, resolve
from tests.deploy_harness import FAKE_CHAIN, CapturedLog, wait_for, write_fake_topology


def fake_plan(tmp_path: Path, **extra_args: list[str]) -> DeploymentPlan:
    topology = load_topology(write_fake_topology(tmp_path, extra_args))
    environment = {k: v for k, v in os.environ.items() if k != "SERVICE_TOKEN"}
    return resolve(
        topology, LaunchOptions(data_dir=tmp_path / "data", environment=environment, cwd=tmp_path)
    )


def get_json(url: str) -> dict[str, str]:
    response = httpx.get(url, timeout=10, trust_env=False)
    response.raise_for_status()
    body: dict[str, str] = response.json()
    return body


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); its state in /proc tells.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def test_starts_in_dependency_order_and_tells_each_role_where_the_others_are(
    tmp_path: Path,
) -> None:
    plan = fake_plan(tmp_path)
    log = CapturedLog(plan.roles)
    with Deployment(plan, sink=log.sink, ready_timeout=30, stop_grace=5) as mesh:
        assert plan.start_order == ["back", "middle", "front"]
        for role in FAKE_CHAIN:
            assert get_json(f"{mesh.urls[role]}/health")["role"] == role
        front = get_json(f"{mesh.urls['front']}/env")
        back = get_json(f"{mesh.urls['back']}/env")
        assert front["MIDDLE_URL"] == mesh.urls["middle"]
        assert front["BACK_URL"] == mesh.urls["back"]  # transitive dependencies too
        assert "MIDDLE_URL" not in back
        assert front["DEPLOYMENT_MODE"] == "distributed"
        assert back["ROLE_NOTE"] == "from-topology"
        assert front["SERVICE_TOKEN"] == back["SERVICE_TOKEN"] == plan.service_token
        assert len(plan.service_token) >= 32
        assert back["AETHER_DATA_DIR"] == str((tmp_path / "data" / "back").resolve())
        processes = mesh.processes
    assert all(process.returncode is not None for process in processes.values())

    lines = log.lines()
    starts = [
        next(i for i, line in enumerate(lines) if f"starting {r}" in line) for r in FAKE_CHAIN
    ]
    readies = [
        next(i for i, line in enumerate(lines) if f"{r} ready at" in line) for r in FAKE_CHAIN
    ]
    assert starts[2] < readies[2] < starts[1] < readies[1] < starts[0] < readies[0]
    stops = [next(i for i, line in enumerate(lines) if f"{r} stopped" in line) for r in FAKE_CHAIN]
    assert stops == sorted(stops), "dependents must stop first"
    # Every line of a role, stdout and stderr alike, carries its name, padded to align.
    assert "back     | back listening on" in log.text
    assert "middle   | middle: stderr works too" in log.text


def test_waits_for_a_role_to_be_ready_before_starting_its_dependents(tmp_path: Path) -> None:
    ready_file = tmp_path / "back-is-ready"
    plan = fake_plan(tmp_path, back=["--ready-file", str(ready_file)])
    log = CapturedLog(plan.roles)
    mesh = Deployment(plan, sink=log.sink, ready_timeout=60, stop_grace=5)
    outcome: list[BaseException | None] = []

    def start() -> None:
        try:
            mesh.start()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    starter = threading.Thread(target=start)
    starter.start()
    try:
        wait_for(lambda: "back listening on" in log.text, what="back to listen")
        back = httpx.get(f"{plan.roles['back'].base_url}/ready", trust_env=False)
        assert back.status_code == 503
        assert "starting middle" not in log.text
        ready_file.touch()
        starter.join(timeout=60)
        assert outcome == [None]
        assert "middle ready at" in log.text
        assert "front ready at" in log.text
    finally:
        mesh.request_stop()
        starter.join(timeout=60)
        mesh.stop()


def test_a_role_never_ready_fails_with_its_name_and_last_lines(tmp_path: Path) -> None:
    plan = fake_plan(tmp_path, back=["--ready-file", str(tmp_path / "never")])
    log = CapturedLog(plan.roles)
    mesh = Deployment(plan, sink=log.sink, ready_timeout=1.0, stop_grace=5)
    with pytest.raises(NotReadyError) as caught:
        mesh.start()
    message = str(caught.value)
    assert caught.value.role == "back"
    assert "back was not ready at http://127.0.0.1:" in message
    assert "after 1s" in message
    assert "HTTP 503" in message
    assert "back listening on" in message
    assert "starting middle" not in log.text
    assert all(process.returncode is not None for process in mesh.processes.values())


def test_a_role_that_exits_at_start_fails_with_its_exit_code_and_output(tmp_path: Path) -> None:
    plan = fake_plan(tmp_path, back=["--fail-start", "3"])
    mesh = Deployment(plan, sink=CapturedLog(plan.roles).sink, ready_timeout=30, stop_grace=5)
    with pytest.raises(NotReadyError) as caught:
        mesh.start()
    assert "back exited (exit code 3) before it was ready" in str(caught.value)
    assert "back: failing on purpose" in caught.value.last_lines


def test_when_one_role_dies_wait_names_it_and_every_role_is_stopped(tmp_path: Path) -> None:
    plan = fake_plan(tmp_path)
    log = CapturedLog(plan.roles)
    with Deployment(plan, sink=log.sink, ready_timeout=30, stop_grace=5) as mesh:
        assert mesh.wait(timeout=0.05) is None  # nothing died yet
        httpx.get(f"{mesh.urls['middle']}/die?code=5", trust_env=False)
        died = mesh.wait(timeout=30)
        processes = mesh.processes
    assert died == RoleExit("middle", 5)
    assert "middle exited (exit code 5)" in log.text
    assert all(process.returncode is not None for process in processes.values())


def test_a_role_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    plan = fake_plan(tmp_path, back=["--ignore-sigterm"])
    log = CapturedLog(plan.roles)
    with Deployment(plan, sink=log.sink, ready_timeout=30, stop_grace=0.5) as mesh:
        back = mesh.processes["back"]
    assert back.returncode == -9
    assert "back did not stop within 0.5s; killing it" in log.text


def test_stopping_a_role_stops_the_processes_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    plan = fake_plan(tmp_path, back=["--child-pid-file", str(pid_file)])
    with Deployment(plan, sink=CapturedLog(plan.roles).sink, ready_timeout=30, stop_grace=5):
        child = int(pid_file.read_text())
        assert alive(child)
    wait_for(lambda: not alive(child), timeout=10, what=f"child {child} of back to end")


def test_a_port_already_in_use_is_reported_before_anything_starts(tmp_path: Path) -> None:
    plan = fake_plan(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", plan.roles["middle"].port))
        squatter.listen()
        mesh = Deployment(plan, sink=CapturedLog(plan.roles).sink)
        with pytest.raises(PortInUseError, match=rf"port {plan.roles['middle'].port} for middle"):
            mesh.start()
    assert mesh.processes == {}


def test_a_stop_request_during_start_stops_what_started(tmp_path: Path) -> None:
    plan = fake_plan(tmp_path, back=["--ready-file", str(tmp_path / "never")])
    log = CapturedLog(plan.roles)
    mesh = Deployment(plan, sink=log.sink, ready_timeout=60, stop_grace=5)
    threading.Thread(
        target=lambda: (wait_for(lambda: "back listening" in log.text), mesh.request_stop())
    ).start()
    with pytest.raises(LaunchInterrupted):
        mesh.start()
    assert mesh.processes["back"].returncode is not None
