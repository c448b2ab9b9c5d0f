"""The gVisor runner: every job in its own sandbox (a warm one from the pool when there is one),
under the policy of its depth, destroyed after the job whatever happened.

Start-up removes what a killed earlier process of this service left (its containers and job
directories); each process keeps its containers under a state directory of its own, so two
services sharing a data directory never touch each other's sandboxes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from aether.sandbox.artifacts import ArtifactSink, keep_artifacts, link_artifacts
from aether.sandbox.container import Launch, Sandbox
from aether.sandbox.jobfiles import collect_result, write_inputs
from aether.sandbox.jobs import AnalysisJob, JobOutcome
from aether.sandbox.layout import JobKind, JobLimits, JobOrder
from aether.sandbox.policy import MIB, Policies, SandboxPolicy
from aether.sandbox.pool import WarmPool
from aether.sandbox.runsc import Runsc, RunscError
from aether.sandbox.scripts import ScriptJob, ScriptOutcome, collect_script, write_script_inputs

log = logging.getLogger(__name__)

T = TypeVar("T")


class GVisorRunner:
    name = "gvisor"

    def __init__(
        self,
        runsc_binary: str,
        root: Path,
        work_dir: Path,
        policies: Policies,
        pool_size: int = 0,
        cgroups: bool = False,
        version: str = "",
        artifacts: ArtifactSink | None = None,
    ) -> None:
        """`work_dir` holds one directory per service process (`<pid>/jobs`, `<pid>/state`);
        `artifacts` receives the tables and charts of analysis jobs."""
        self.work_dir = work_dir
        self.artifacts = artifacts
        self.policies = policies
        process_dir = work_dir / str(os.getpid())
        self.runsc = Runsc.locate(runsc_binary, process_dir / "state")
        self.launch_config = Launch(
            runsc=self.runsc, root=root, jobs_dir=process_dir / "jobs", cgroups=cgroups
        )
        self.pool = WarmPool(pool_size, self._launch_warm, self._destroy)
        self.description = (
            f"gvisor (runsc {version or 'unknown version'}, warm pool of {pool_size}"
            f"{', cgroup limits' if cgroups else ''})"
        )
        self._destroying: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await remove_leftovers(self.work_dir, self.runsc.binary, self.runsc.rootless)
        self.pool.start()

    async def aclose(self) -> None:
        """Drain the pool and wait for destructions under way; this process's directory goes
        too once no container is left in it."""
        await self.pool.aclose()
        await self.cleaned_up()
        try:
            left = await self.runsc.list_ids()
        except RunscError as exc:
            log.warning("could not list sandboxes at shutdown: %s", exc)
            return
        if left:
            log.warning("sandboxes left at shutdown (removed at the next start): %s", left)
            return
        await asyncio.to_thread(shutil.rmtree, self.runsc.state_dir.parent, ignore_errors=True)

    async def cleaned_up(self) -> None:
        """Returns once every finished job's sandbox is deleted and its directory removed (that
        happens after the job's result is returned)."""
        while self._destroying:
            await asyncio.gather(*self._destroying, return_exceptions=True)

    async def run(self, job: AnalysisJob) -> JobOutcome:
        policy = self.policies.for_depth(job.params.depth)

        async def collect(sandbox: Sandbox, status: int, seconds: float) -> JobOutcome:
            result = await asyncio.to_thread(
                collect_result,
                sandbox.job_dir,
                status,
                job.analyst,
                policy.max_result_bytes,
                policy,
            )
            refs = await keep_artifacts(sandbox.job_dir.output, self.artifacts)
            return JobOutcome(
                result=link_artifacts(result, refs),
                duration_seconds=seconds,
                runner=self.name,
                artifacts=refs,
            )

        return await self._run(
            policy,
            "analysis",
            lambda sandbox: asyncio.to_thread(write_inputs, job, sandbox.job_dir),
            collect,
        )

    async def run_script(self, job: ScriptJob) -> ScriptOutcome:
        policy = self.policies.for_depth(job.depth)
        return await self._run(
            policy,
            "script",
            lambda sandbox: asyncio.to_thread(write_script_inputs, job, sandbox.job_dir),
            lambda sandbox, status, seconds: asyncio.to_thread(
                collect_script, sandbox.job_dir, status, policy, seconds, self.name
            ),
        )

    async def _run(
        self,
        policy: SandboxPolicy,
        kind: JobKind,
        write: Callable[[Sandbox], Awaitable[None]],
        collect: Callable[[Sandbox, int, float], Awaitable[T]],
    ) -> T:
        """Take a warm sandbox or launch a cold one, write the inputs, order, wait, collect;
        destroy the sandbox in every case."""
        with self.pool.job_running():
            sandbox = self.pool.take()
            if sandbox is None:
                sandbox = await self._launch_shielded(policy)
            try:
                await _uninterrupted(write(sandbox))
                await sandbox.order(_order(kind, policy))
                status = await sandbox.wait(policy, kind)
                if not sandbox.started:
                    raise sandbox.failed_to_start()
                seconds = time.monotonic() - (sandbox.ordered_at or sandbox.launched_at)
                return await collect(sandbox, status, seconds)
            finally:
                if sandbox.alive:
                    await self._destroy_shielded(sandbox)
                else:  # exited: only its state and directory are left, removed in the background
                    self._destroy_later(sandbox)

    async def _launch_warm(self) -> Sandbox:
        return await Sandbox.launch(self.launch_config, self.policies.ceiling, preload=True)

    async def _launch_shielded(self, policy: SandboxPolicy) -> Sandbox:
        launching = asyncio.ensure_future(Sandbox.launch(self.launch_config, policy, preload=False))
        try:
            return await asyncio.shield(launching)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self._destroy(await launching)
            raise

    async def _destroy(self, sandbox: Sandbox) -> None:
        try:
            await sandbox.destroy()
        except Exception:  # logged, never raised: the job's own outcome matters more
            log.exception("could not destroy sandbox %s", sandbox.container_id)

    async def _destroy_shielded(self, sandbox: Sandbox) -> None:
        """Destruction survives a second cancellation; `aclose` waits for stragglers."""
        await asyncio.shield(self._destroy_later(sandbox))

    def _destroy_later(self, sandbox: Sandbox) -> asyncio.Task[None]:
        task = asyncio.ensure_future(self._destroy(sandbox))
        self._destroying.add(task)
        task.add_done_callback(self._destroying.discard)
        return task


def _order(kind: JobKind, policy: SandboxPolicy) -> JobOrder:
    return JobOrder(
        kind=kind,
        limits=JobLimits(
            memory_bytes=policy.memory_mb * MIB,
            file_bytes=policy.file_bytes,
            processes=policy.processes,
        ),
    )


async def _uninterrupted(writing: Awaitable[None]) -> None:
    """A thread cannot be interrupted: a cancelled write is let finish before the sandbox's
    directory is removed, or the removal races with it."""
    task = asyncio.ensure_future(writing)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task})
        raise


async def remove_leftovers(work_dir: Path, runsc_binary: str, rootless: bool) -> None:
    """Containers and job directories of service processes that no longer run."""
    for entry in await asyncio.to_thread(_abandoned, work_dir):
        runsc = Runsc(binary=runsc_binary, state_dir=entry / "state", rootless=rootless)
        try:
            for container_id in await runsc.list_ids():
                with contextlib.suppress(RunscError):
                    await runsc.delete(container_id)
        except RunscError as exc:
            log.warning("could not list leftover sandboxes in %s: %s", entry, exc)
            continue
        await asyncio.to_thread(shutil.rmtree, entry, ignore_errors=True)
        log.info("removed sandboxes left by process %s", entry.name)


def _abandoned(work_dir: Path) -> list[Path]:
    """Directories of service processes that no longer run."""
    if not work_dir.is_dir():
        return []
    return [
        entry
        for entry in work_dir.iterdir()
        if entry.name.isdigit() and not _running(int(entry.name))
    ]


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: running
        return True
    return True
