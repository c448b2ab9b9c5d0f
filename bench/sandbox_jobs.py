"""What the sandbox costs per job: a trivial script and a pandas analysis of the demo household,
unsandboxed (a plain subprocess), in a cold gVisor sandbox and in a warm one from the pool.

Every figure is the wall time the caller waits for `run`/`run_script`: writing the inputs,
starting (or waking) the job, the job itself, reading and validating the result. Warm jobs are
timed with the pool full and done importing, which is the state a pool is in between requests;
the refill after each job is not part of the figure (it happens in the background).

    .venv/bin/python bench/sandbox_jobs.py                # 15 runs per case
    .venv/bin/python bench/sandbox_jobs.py --repeat 5     # a quick look

Targets on the reference machine: warm-pool pandas job p50 <= 0.5 s, trivial job <= 0.2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aether.analysis.findings import AnalysisParams
from aether.data.demo import ensure_demo_household
from aether.data.parquet_store import ParquetHouseholdSource
from aether.sandbox.gvisor_runner import GVisorRunner
from aether.sandbox.jobs import AnalysisJob
from aether.sandbox.policy import Policies
from aether.sandbox.rootfs import prepare_root
from aether.sandbox.runner import SandboxRunner
from aether.sandbox.scripts import ScriptJob
from aether.sandbox.subprocess_runner import SubprocessRunner

POLICIES = Policies.scaled(timeout_seconds=60, memory_mb=2048)
TARGETS = {("warm gVisor", "pandas analysis"): 0.5, ("warm gVisor", "trivial script"): 0.2}
TIMEZONE = "Europe/Berlin"
DEMO_DAYS = 90
"""The demo household's default length, as `make run` writes it."""


@dataclass(frozen=True)
class Case:
    runner: str
    job: str
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p90(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


async def demo_job(data_dir: Path, days: int) -> AnalysisJob:
    """The energy analyst's job over the last `days` of the demo household."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    await asyncio.to_thread(ensure_demo_household, data_dir, now, DEMO_DAYS, TIMEZONE)
    source = ParquetHouseholdSource(data_dir)
    start = now - timedelta(days=days)
    data = await source.load(start, now + timedelta(minutes=30), None)
    params = AnalysisParams(
        window_start=start, window_end=now, timezone=TIMEZONE, window_label=f"last {days} days"
    )
    return AnalysisJob(analyst="energy", params=params, frame=data.frame, entities=data.entities)


async def timed(
    repeat: int, job: Callable[[], Awaitable[object]], before: Callable[[], Awaitable[None]]
) -> list[float]:
    seconds: list[float] = []
    for _ in range(repeat):
        await before()
        started = time.perf_counter()
        await job()
        seconds.append(time.perf_counter() - started)
    return seconds


async def measure(
    label: str, runner: SandboxRunner, analysis: AnalysisJob, repeat: int
) -> list[Case]:
    async def settle() -> None:
        if isinstance(runner, GVisorRunner) and runner.pool.size:
            if not await runner.pool.wait_ready(120):
                raise RuntimeError("the warm pool did not fill within 120 s")
        elif isinstance(runner, GVisorRunner):
            await runner.cleaned_up()

    await runner.start()
    try:
        await runner.run(analysis)  # warms the page cache; not counted
        trivial = await timed(
            repeat, lambda: runner.run_script(ScriptJob(script="print('ok')")), settle
        )
        pandas = await timed(repeat, lambda: runner.run(analysis), settle)
    finally:
        await runner.aclose()
    return [Case(label, "trivial script", trivial), Case(label, "pandas analysis", pandas)]


def report(cases: list[Case], rows: int, days: int) -> None:
    baseline = {case.job: case.median for case in cases if case.runner == "unsandboxed"}
    print(f"\npandas analysis: energy analyst, demo household, {days} days, {rows} states")
    print(f"{'runner':<14} {'job':<16} {'p50':>8} {'p90':>8}  {'x unsandboxed':>13}  target")
    for case in cases:
        target = TARGETS.get((case.runner, case.job))
        verdict = (
            ""
            if target is None
            else f"<= {target:g} s " + ("met" if case.median <= target else "MISSED")
        )
        ratio = case.median / baseline[case.job]
        print(
            f"{case.runner:<14} {case.job:<16} {case.median:7.3f}s {case.p90:7.3f}s"
            f"  {ratio:12.2f}x  {verdict}"
        )


async def main(repeat: int, days: int, keep: Path | None) -> int:
    if shutil.which("runsc") is None:
        print("runsc (gVisor) is not installed: nothing to compare", file=sys.stderr)
        return 2
    work = keep or Path(tempfile.mkdtemp(prefix="aether-bench-sandbox-"))
    try:
        analysis = await demo_job(work / "household", days)
        root = await asyncio.to_thread(prepare_root, work / "roots")
        cgroups = False  # the same for every case; cgroups add a few ms per start
        runners: list[tuple[str, SandboxRunner]] = [
            ("unsandboxed", SubprocessRunner(work / "subprocess", policies=POLICIES)),
            ("cold gVisor", GVisorRunner("runsc", root, work / "cold", POLICIES, 0, cgroups)),
            ("warm gVisor", GVisorRunner("runsc", root, work / "warm", POLICIES, 1, cgroups)),
        ]
        cases: list[Case] = []
        for label, runner in runners:
            print(f"measuring {label} ({repeat} runs per job)...", flush=True)
            cases += await measure(label, runner, analysis, repeat)
        report(cases, len(analysis.frame), days)
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs per job and runner")
    parser.add_argument("--days", type=int, default=30, help="days of demo data the analysis reads")
    parser.add_argument("--keep", type=Path, help="work directory to keep (default: a temp dir)")
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.repeat, arguments.days, arguments.keep)))
