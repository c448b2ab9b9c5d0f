"""Real child processes under `run_process`: limits, timeouts, cancellation, environment, output."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from aether.sandbox.jobfiles import collect_result, job_failure
from aether.sandbox.jobs import SandboxError, SandboxOutputInvalid, SandboxTimeout
from aether.sandbox.layout import JobDir
from aether.sandbox.process import THREAD_CAPS, ProcessLimits, run_process
from aether.sandbox.subprocess_runner import MAX_RESULT_BYTES

LIMITS = ProcessLimits(memory_bytes=512 << 20, cpu_seconds=10, file_bytes=16 << 20, processes=256)

SLEEP_WITH_GRANDCHILD = """
    import os, subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open("pids.partial", "w") as file:
        file.write(f"{os.getpid()} {child.pid}")
    os.rename("pids.partial", "pids")
    time.sleep(60)
"""


def python(code: str) -> list[str]:
    return [sys.executable, "-I", "-c", textwrap.dedent(code)]


@pytest.fixture
def job_dir(tmp_path: Path) -> JobDir:
    directory = JobDir(tmp_path / "job")
    directory.create()
    return directory


def is_running(pid: int) -> bool:
    """A zombie counts as gone: it has been killed, only its exit status is left for a reaper."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def wait_for_pids(job_dir: JobDir) -> list[int]:
    pids_file = job_dir.root / "pids"
    for _ in range(500):
        if pids_file.exists():
            return [int(pid) for pid in pids_file.read_text().split()]
        await asyncio.sleep(0.01)
    raise AssertionError("the job never wrote its pids")


async def assert_all_gone(pids: list[int]) -> None:
    """SIGKILL is delivered at once, but a killed process needs a moment to exit."""
    for _ in range(200):
        if not any(is_running(pid) for pid in pids):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"processes still running: {[p for p in pids if is_running(p)]}")


async def test_a_successful_process_reports_its_status_and_duration(job_dir: JobDir) -> None:
    result = await run_process(python("print('hi')"), job_dir, 5, LIMITS)

    assert result.returncode == 0
    assert 0 < result.duration_seconds < 5
    assert job_dir.stdout.read_text() == "hi\n"


async def test_a_hanging_process_times_out_and_its_whole_group_is_killed(
    job_dir: JobDir,
) -> None:
    with pytest.raises(SandboxTimeout, match="1 s"):
        await run_process(python(SLEEP_WITH_GRANDCHILD), job_dir, 1.0, LIMITS)

    pids = [int(pid) for pid in (job_dir.root / "pids").read_text().split()]
    await assert_all_gone(pids)


async def test_cancelling_the_caller_kills_the_process_group(job_dir: JobDir) -> None:
    task = asyncio.create_task(run_process(python(SLEEP_WITH_GRANDCHILD), job_dir, 30, LIMITS))
    pids = await wait_for_pids(job_dir)
    assert all(is_running(pid) for pid in pids)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await assert_all_gone(pids)


async def test_processes_left_behind_by_a_finished_job_are_killed(job_dir: JobDir) -> None:
    code = """
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open("pids", "w").write(str(child.pid))
    """
    result = await run_process(python(code), job_dir, 5, LIMITS)

    assert result.returncode == 0
    await assert_all_gone([int((job_dir.root / "pids").read_text())])


async def test_the_job_sees_none_of_the_parents_environment(
    job_dir: JobDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_API_KEY", "sk-very-secret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://aether:pw@db/aether")
    monkeypatch.setenv("HA_TOKEN", "ha-token")
    code = """
        import json, os
        with open("env.json", "w") as file:
            json.dump(dict(os.environ), file)
    """

    await run_process(python(code), job_dir, 5, LIMITS)

    environment = json.loads((job_dir.root / "env.json").read_text())
    assert set(environment) == {"PATH", "LANG", "HOME", *THREAD_CAPS}
    assert environment["HOME"] == str(job_dir.root)
    dumped = json.dumps(environment)
    assert "sk-very-secret" not in dumped
    assert "postgresql://" not in dumped
    assert "ha-token" not in dumped


async def test_output_beyond_a_pipe_buffer_goes_to_files_without_blocking(
    job_dir: JobDir,
) -> None:
    code = """
        import sys
        sys.stdout.write("x" * 300_000)
        sys.stderr.write("y" * 300_000)
    """

    result = await run_process(python(code), job_dir, 5, LIMITS)

    assert result.returncode == 0
    assert job_dir.stdout.stat().st_size == 300_000
    assert job_dir.stderr.stat().st_size == 300_000


async def test_allocating_beyond_the_memory_limit_fails_cleanly(job_dir: JobDir) -> None:
    limits = ProcessLimits(memory_bytes=256 << 20, cpu_seconds=10, file_bytes=1 << 20, processes=64)

    result = await run_process(python("block = bytearray(1 << 30)"), job_dir, 5, limits)

    failure = job_failure(job_dir, result.returncode)
    assert result.returncode == 1
    assert str(failure) == "analysis job exited with status 1"
    assert failure.stderr_tail.endswith("MemoryError")


async def test_spinning_beyond_the_cpu_limit_is_killed(job_dir: JobDir) -> None:
    limits = ProcessLimits(memory_bytes=256 << 20, cpu_seconds=1, file_bytes=1 << 20, processes=64)

    result = await run_process(python("while True: pass"), job_dir, 10, limits)

    assert result.returncode == -signal.SIGXCPU
    assert "CPU time limit" in str(job_failure(job_dir, result.returncode))


async def test_writing_beyond_the_file_size_limit_fails(job_dir: JobDir) -> None:
    limits = ProcessLimits(memory_bytes=256 << 20, cpu_seconds=10, file_bytes=1 << 20, processes=64)
    code = """
        with open("output/result.json", "w") as file:
            file.write("x" * (2 << 20))
    """

    result = await run_process(python(code), job_dir, 5, limits)

    assert result.returncode != 0
    assert "File too large" in job_failure(job_dir, result.returncode).stderr_tail
    assert job_dir.result.stat().st_size <= 1 << 20


async def test_an_oversized_result_is_refused(job_dir: JobDir) -> None:
    code = f"""
        with open("output/result.json", "w") as file:
            file.write(" " * {MAX_RESULT_BYTES + 1})
    """

    result = await run_process(python(code), job_dir, 5, LIMITS)

    assert result.returncode == 0
    with pytest.raises(SandboxOutputInvalid, match="exceeds"):
        collect_result(job_dir, result.returncode, "energy", MAX_RESULT_BYTES)


async def test_a_missing_interpreter_is_a_sandbox_error(job_dir: JobDir, tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="cannot start the analysis job"):
        await run_process([str(tmp_path / "no-such-python")], job_dir, 5, LIMITS)
