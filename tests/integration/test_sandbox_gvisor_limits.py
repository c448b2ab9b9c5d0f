"""Hostile jobs under gVisor: each is contained, fails with a reason a user can read, leaves
nothing behind (no container, no process, no job directory), and the runner serves the next job.
A malicious analysis reaches the answer as a failure with its reason, not as a crash.

Skipped with a reason when runsc is missing, except in CI (CI=true), where that fails the run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aether.agents.contract import AgentName, AgentRequest, ErrorEvent, FinalEvent, ServiceName
from aether.data.demo import ensure_demo_household
from aether.data.parquet_store import ParquetHouseholdSource
from aether.mesh.topology import build_local_mesh
from aether.sandbox.gvisor_runner import GVisorRunner
from aether.sandbox.jobs import SandboxJobFailed, SandboxLimitExceeded, SandboxTimeout
from aether.sandbox.policy import Policies
from aether.sandbox.rootfs import RootSources, prepare_root
from aether.sandbox.scripts import ScriptJob
from tests.integration.test_sandbox_gvisor import (
    POLICIES,
    assert_nothing_left,
    descendants,
    require_runsc,
    root_cache,
)

SHORT = Policies.scaled(timeout_seconds=2, memory_mb=512)
NOW = datetime(2024, 3, 15, 12, tzinfo=UTC)

FORK_BOMB = """
import os
while True:
    os.fork()
"""
MEMORY_BOMB = """
blocks = []
while True:
    blocks.append(bytearray(64 << 20))
"""
EVIL_REGISTRY = '''
"""Stands in for the analysis registry: an analysis that goes for the host's secrets."""


def run_analysis(analyst, frame, entities, params):
    return open("/etc/shadow").read()
'''


@pytest.fixture(scope="session")
def gvisor_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same root as the other gVisor tests build (same cache, same fingerprint)."""
    require_runsc()
    return prepare_root(root_cache(tmp_path_factory))


@pytest.fixture
async def runner(gvisor_root: Path, tmp_path: Path) -> AsyncIterator[GVisorRunner]:
    runner = GVisorRunner("runsc", gvisor_root, tmp_path / "sandbox", POLICIES, cgroups=False)
    await runner.start()
    yield runner
    await runner.aclose()


async def assert_still_serving(runner: GVisorRunner) -> None:
    outcome = await runner.run_script(ScriptJob(script="print('still here')", depth="quick"))
    assert outcome.stdout == "still here\n"
    await assert_nothing_left(runner)


async def test_a_fork_bomb_is_contained(runner: GVisorRunner) -> None:
    # standard depth (30 s): forks are slow under gVisor's ptrace platform, and on a loaded
    # machine the bomb can take longer than a quick job's 10 s to reach its limit
    with pytest.raises(SandboxJobFailed) as raised:
        await runner.run_script(ScriptJob(script=FORK_BOMB))

    assert "BlockingIOError" in str(raised.value)
    assert f"limit is {POLICIES.standard.processes} processes" in str(raised.value)
    await assert_still_serving(runner)


async def test_a_memory_bomb_is_contained(runner: GVisorRunner) -> None:
    with pytest.raises(SandboxJobFailed) as raised:
        await runner.run_script(ScriptJob(script=MEMORY_BOMB, depth="quick"))

    assert str(raised.value) == (
        f"script failed: MemoryError (the job's memory limit is {POLICIES.quick.memory_mb} MiB)"
    )
    await assert_still_serving(runner)


async def test_an_infinite_loop_is_stopped_at_the_time_limit(
    gvisor_root: Path, tmp_path: Path
) -> None:
    runner = GVisorRunner("runsc", gvisor_root, tmp_path / "sandbox", SHORT)
    await runner.start()
    try:
        with pytest.raises(SandboxTimeout, match="script job exceeded its time limit of 2 s"):
            await runner.run_script(ScriptJob(script="while True:\n    pass"))
        await assert_nothing_left(runner)
        await assert_still_serving(runner)
    finally:
        await runner.aclose()


async def test_200_kb_on_stdout_fails_the_job(runner: GVisorRunner) -> None:
    with pytest.raises(SandboxLimitExceeded, match="printed more than 64 KiB"):
        await runner.run_script(ScriptJob(script="print('x' * 200_000)", depth="quick"))

    await assert_still_serving(runner)


async def test_too_many_output_files_fail_the_job(runner: GVisorRunner) -> None:
    script = "for n in range(1000):\n    open(f'output/{n}.txt', 'w').write('x')"

    with pytest.raises(SandboxLimitExceeded, match="more than 64 files"):
        await runner.run_script(ScriptJob(script=script, depth="quick"))

    await assert_still_serving(runner)


async def test_a_cancelled_job_is_killed(runner: GVisorRunner) -> None:
    script = "import os, time\nos.fork()\ntime.sleep(60)"
    task = asyncio.create_task(runner.run_script(ScriptJob(script=script)))
    for _ in range(200):
        if len(descendants(os.getpid())) >= 5:  # runsc, gofer, sandbox, the job's two tasks
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the job never started")

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert descendants(os.getpid()) == []
    assert await runner.runsc.list_ids() == []
    await assert_still_serving(runner)


async def test_a_malicious_analysis_is_a_failure_with_its_reason_in_the_answer(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    require_runsc()
    evil = tmp_path / "registry.py"
    evil.write_text(EVIL_REGISTRY)
    sources = RootSources.of_this_interpreter()
    evil_sources = dataclasses.replace(
        sources, aether_files={**sources.aether_files, "analysis/registry.py": evil}
    )
    root = prepare_root(tmp_path_factory.getbasetemp() / "evil-roots", evil_sources)
    runner = GVisorRunner("runsc", root, tmp_path / "sandbox", POLICIES)
    ensure_demo_household(tmp_path / "household", NOW, days=14)
    mesh = build_local_mesh(
        source=ParquetHouseholdSource(tmp_path / "household"),
        runner=runner,
        llm=None,
        clock=lambda: NOW,
        timezone="Europe/Berlin",
    )
    request = AgentRequest(
        run_id="run-1",
        agent=AgentName.ARCHITECT,
        question="How much energy did I use yesterday?",
        analysts=["energy"],
    )
    await runner.start()
    try:
        client = mesh.directory.client_for(ServiceName.ARCHITECT)
        events = [event async for event in client.stream(request)]
        await assert_still_serving(runner)
    finally:
        await runner.aclose()

    final = events[-1]
    assert not isinstance(final, FinalEvent)
    assert isinstance(final, ErrorEvent)
    assert final.code == "analysis_failed"
    assert final.message == (
        "analysis failed: FileNotFoundError: [Errno 2] No such file or directory: '/etc/shadow'"
    )
