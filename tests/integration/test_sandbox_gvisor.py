"""The gVisor runner for real: analyses give the same result as in-process, the warm pool serves
one job per sandbox, and a job sees nothing of the host (no network, no host files, no writes
outside its output directory) and runs as nobody without capabilities.

Skipped with a reason when runsc is missing, except in CI (CI=true), where that fails the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aether.analysis.registry import run_analysis
from aether.sandbox.gvisor_runner import GVisorRunner
from aether.sandbox.policy import Policies
from aether.sandbox.rootfs import prepare_root
from aether.sandbox.scripts import ScriptJob
from tests.integration.test_sandbox_runner import make_job

IN_CI = os.environ.get("CI", "").lower() == "true"
POLICIES = Policies.scaled(timeout_seconds=30, memory_mb=1024)
PROJECT_DIR = Path(__file__).resolve().parents[2]


def require_runsc() -> None:
    if shutil.which("runsc") is None:
        reason = "runsc (gVisor) is not installed, so the gVisor runner cannot be tested"
        if IN_CI:
            pytest.fail(
                f"{reason}; CI must run these tests (.ci/run installs runsc)", pytrace=False
            )
        pytest.skip(reason)


def root_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the factory puts roots when XDG_CACHE_HOME is `<basetemp>/xdg`: tests of the
    factory set that, so every test of the session shares one root."""
    return tmp_path_factory.getbasetemp() / "xdg" / "aether" / "sandbox-roots"


@pytest.fixture(scope="session")
def gvisor_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One root for the session: building it takes seconds, every test reads it read-only."""
    require_runsc()
    return prepare_root(root_cache(tmp_path_factory))


def descendants(pid: int) -> list[int]:
    """Live (non-zombie) descendants of `pid`: runsc, its gofer, its sandbox and the job's tasks
    all descend from the process that ran `runsc run`."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        pending += children
    return found


async def assert_nothing_left(runner: GVisorRunner) -> None:
    """No container in runsc's state, no process of any sandbox, no job directory."""
    await runner.cleaned_up()
    for _ in range(100):
        if not descendants(os.getpid()):
            break
        await asyncio.sleep(0.05)
    assert descendants(os.getpid()) == []
    assert await runner.runsc.list_ids() == []
    jobs_dir = runner.launch_config.jobs_dir
    assert not jobs_dir.exists() or list(jobs_dir.iterdir()) == []


@pytest.fixture
async def runner(gvisor_root: Path, tmp_path: Path) -> AsyncIterator[GVisorRunner]:
    runner = GVisorRunner("runsc", gvisor_root, tmp_path / "sandbox", POLICIES, cgroups=False)
    await runner.start()
    yield runner
    await runner.aclose()


async def test_an_analysis_gives_what_it_gives_in_process(runner: GVisorRunner) -> None:
    job = make_job("energy")

    outcome = await runner.run(job)

    assert outcome.runner == "gvisor"
    assert outcome.result == run_analysis("energy", job.frame, job.entities, job.params)
    await assert_nothing_left(runner)


async def test_warm_sandboxes_serve_one_job_each(gvisor_root: Path, tmp_path: Path) -> None:
    runner = GVisorRunner("runsc", gvisor_root, tmp_path / "sandbox", POLICIES, pool_size=1)
    await runner.start()
    try:
        served: list[str] = []
        for analyst in ("behavioral", "diagnostic"):
            assert await runner.pool.wait_ready(60)
            served += await runner.runsc.list_ids()
            job = make_job(analyst)

            outcome = await runner.run(job)

            assert outcome.result == run_analysis(analyst, job.frame, job.entities, job.params)
            assert outcome.duration_seconds < 5  # the imports were done before the job came
        assert len(set(served)) == 2
    finally:
        await runner.aclose()
    await assert_nothing_left(runner)
    assert not (tmp_path / "sandbox" / str(os.getpid())).exists()


async def test_a_pool_of_zero_starts_a_sandbox_per_job(runner: GVisorRunner) -> None:
    outcome = await runner.run_script(ScriptJob(script="print('cold')"))

    assert outcome.stdout == "cold\n"
    assert runner.pool.idle == 0


ISOLATION = """
import json, os, socket

probe = json.load(open("input/probe.json"))
report = {}

def attempt(action):
    try:
        action()
        return "ok"
    except OSError as error:
        return type(error).__name__

def connect(host, port):
    socket.create_connection((host, port), timeout=2).close()

report["loopback"] = attempt(lambda: connect("127.0.0.1", probe["port"]))
report["outside"] = attempt(lambda: connect("1.1.1.1", 80))
report["read"] = {path: attempt(lambda: open(path, "rb").read(1)) for path in probe["read"]}
report["list"] = {path: attempt(lambda: os.listdir(path)) for path in probe["list"]}
report["write"] = {path: attempt(lambda: open(path, "w").write("x")) for path in probe["write"]}
report["uid"] = os.getuid()
status = dict(line.split(":\\t", 1) for line in open("/proc/self/status") if ":\\t" in line)
report["capabilities"] = int(status["CapEff"], 16)
report["root"] = sorted(os.listdir("/"))
report["environment"] = dict(os.environ)
json.dump(report, open("output/result.json", "w"))
"""


async def test_a_job_sees_nothing_of_the_host(
    runner: GVisorRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_API_KEY", "sk-very-secret")
    server = await asyncio.start_server(lambda _, writer: writer.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    database = tmp_path / "aether.db"
    database.write_text("rows")
    home_file = next(p for p in Path.home().iterdir() if p.is_file() and not p.is_symlink())
    probe = {
        "port": port,
        "read": [
            "/etc/shadow",
            str(home_file),
            str(PROJECT_DIR / "pyproject.toml"),
            str(database),
            str(PROJECT_DIR / ".env"),
        ],
        "list": [str(Path.home()), str(PROJECT_DIR), str(tmp_path)],
        "write": ["/escape", "/usr/escape", "/job/escape", "input/escape", "output/allowed"],
    }
    try:
        outcome = await runner.run_script(
            ScriptJob(script=ISOLATION, inputs={"probe.json": json.dumps(probe).encode()})
        )
    finally:
        server.close()
        await server.wait_closed()

    report = outcome.result
    assert report["loopback"] == "ConnectionRefusedError"  # the sandbox's own loopback
    assert report["outside"] != "ok"
    assert all(result == "FileNotFoundError" for result in report["read"].values())
    assert all(result == "FileNotFoundError" for result in report["list"].values())
    assert report["write"] == {
        "/escape": "PermissionError",
        "/usr/escape": "PermissionError",
        "/job/escape": "PermissionError",
        "input/escape": "PermissionError",
        "output/allowed": "ok",
    }
    assert (report["uid"], report["capabilities"]) == (65534, 0)
    assert set(report["root"]) <= {"dev", "etc", "job", "lib", "lib64", "proc", "sys", "tmp", "usr"}
    assert "sk-very-secret" not in json.dumps(report["environment"])
    assert [file.name for file in outcome.files] == ["allowed", "result.json"]
