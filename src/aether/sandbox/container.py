"""One gVisor sandbox serving one job: launched (possibly before its job exists), given its order,
waited for under its policy, then destroyed with everything it left on the host.

The job directory holds the bundle (`bundle/config.json`, never mounted), the inputs, the outputs
and the logs; `sandbox.log` takes runsc's own messages. Destroying kills the container through
runsc, waits for `runsc run` to return, deletes the container's state, removes its cgroup (runsc
leaves it behind) and removes the directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from aether.sandbox.cgroups import cgroup_path, remove_cgroup
from aether.sandbox.jobfiles import read_capped
from aether.sandbox.jobs import SandboxError, SandboxLimitExceeded, SandboxTimeout
from aether.sandbox.layout import JobDir, JobOrder
from aether.sandbox.oci import SandboxSpec, runtime_spec
from aether.sandbox.policy import SandboxPolicy
from aether.sandbox.quota import breach
from aether.sandbox.rootfs import touch_root
from aether.sandbox.runsc import Runsc, RunscError, kill_group

log = logging.getLogger(__name__)

WATCH_INTERVAL_SECONDS: Final = 0.2
"""How often the output quota is measured while a job runs."""
EXIT_GRACE_SECONDS: Final = 5.0
"""How long `runsc run` may take to return after its container was killed."""
KILL_RETRY_SECONDS: Final = 0.2
SANDBOX_LOG_TAIL_BYTES: Final = 4000


@dataclass(frozen=True)
class Launch:
    """How sandboxes of one runner are made."""

    runsc: Runsc
    root: Path
    jobs_dir: Path
    cgroups: bool


@dataclass
class Sandbox:
    container_id: str
    job_dir: JobDir
    process: asyncio.subprocess.Process
    runsc: Runsc
    cgroups_path: str | None = None
    launched_at: float = field(default_factory=time.monotonic)
    ordered_at: float | None = None

    @classmethod
    async def launch(cls, launch: Launch, policy: SandboxPolicy, preload: bool) -> Sandbox:
        """Started, not yet ordered: the worker imports (with `preload`) and waits on stdin."""
        launch.jobs_dir.mkdir(parents=True, exist_ok=True)
        job_dir = JobDir(Path(tempfile.mkdtemp(prefix="job-", dir=launch.jobs_dir)))
        container_id = f"aether-{uuid.uuid4().hex[:16]}"
        try:
            await asyncio.to_thread(_prepare, launch, job_dir, container_id, policy, preload)
            process = await launch.runsc.start(container_id, job_dir.root / "bundle", _log(job_dir))
        except BaseException:
            shutil.rmtree(job_dir.root, ignore_errors=True)
            raise
        return cls(
            container_id=container_id,
            job_dir=job_dir,
            process=process,
            runsc=launch.runsc,
            cgroups_path=cgroup_path(container_id) if launch.cgroups else None,
        )

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    @property
    def ready(self) -> bool:
        return self.job_dir.ready.exists()

    async def order(self, order: JobOrder) -> None:
        """Hand the job to the waiting worker; its inputs must be in place."""
        stdin = self.process.stdin
        if stdin is None or not self.alive:
            raise self.failed_to_start()
        self.ordered_at = time.monotonic()
        try:
            stdin.write(order.model_dump_json().encode() + b"\n")
            await stdin.drain()
            stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            raise self.failed_to_start() from None

    async def wait(self, policy: SandboxPolicy, subject: str) -> int:
        """The job's exit status (negative for a signal, as for a plain process). Raises
        SandboxTimeout past the policy's time and SandboxLimitExceeded past its output limits;
        either way the caller destroys the sandbox."""
        deadline = (self.ordered_at or self.launched_at) + policy.timeout_seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SandboxTimeout(policy.timeout_seconds, subject)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.shield(self.process.wait()), min(WATCH_INTERVAL_SECONDS, remaining)
                )
            reason = await asyncio.to_thread(breach, self.job_dir, policy, subject)
            if reason is not None:
                raise SandboxLimitExceeded(reason)
            if not self.alive:
                return _exit_status(self.process.returncode)

    def failed_to_start(self) -> SandboxError:
        """For a sandbox whose worker never took its job: runsc's last words explain it."""
        lines = _tail(_log(self.job_dir)).splitlines()
        detail = lines[-1] if lines else f"runsc exited with status {self.process.returncode}"
        return SandboxError(f"the gVisor sandbox did not start: {detail[:300]}")

    @property
    def started(self) -> bool:
        """Whether the worker ran at all (it creates its log files first thing)."""
        return self.job_dir.stdout.exists()

    async def destroy(self) -> None:
        """Kill and delete the container, then remove its directory; safe to call twice."""
        deadline = time.monotonic() + EXIT_GRACE_SECONDS
        while self.alive and time.monotonic() < deadline:
            # A sandbox still being created refuses the kill: try again until it takes.
            with contextlib.suppress(RunscError):
                await self.runsc.kill(self.container_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.process.wait()), KILL_RETRY_SECONDS)
        if self.alive:
            log.warning("runsc run for %s outlived its container; killing it", self.container_id)
            kill_group(self.process.pid)
            await self.process.wait()
        try:
            await self.runsc.delete(self.container_id)
        except RunscError as exc:
            if "does not exist" not in str(exc) and "not found" not in str(exc):
                log.warning("could not delete sandbox %s: %s", self.container_id, exc)
        if self.cgroups_path is not None:
            await asyncio.to_thread(remove_cgroup, self.cgroups_path)
        await asyncio.to_thread(shutil.rmtree, self.job_dir.root, ignore_errors=True)


def _prepare(
    launch: Launch, job_dir: JobDir, container_id: str, policy: SandboxPolicy, preload: bool
) -> None:
    """The job directory and the bundle. The writable directories are open to the sandbox's
    user (nobody); the job directory itself stays private to the service's user on the host."""
    touch_root(launch.root)
    job_dir.create()
    for writable in (job_dir.output, job_dir.logs):
        writable.chmod(0o777)
    bundle = job_dir.root / "bundle"
    bundle.mkdir()
    spec = SandboxSpec(
        root=launch.root,
        job_dir=job_dir,
        policy=policy,
        preload=preload,
        cgroups_path=cgroup_path(container_id) if launch.cgroups else None,
        rootless=launch.runsc.rootless,
    )
    (bundle / "config.json").write_text(json.dumps(runtime_spec(spec), indent=1), encoding="utf-8")


def _log(job_dir: JobDir) -> Path:
    return job_dir.root / "sandbox.log"


def _tail(path: Path) -> str:
    try:
        data = read_capped(path, 1 << 20)
    except SandboxError:
        return ""
    return (data or b"")[-SANDBOX_LOG_TAIL_BYTES:].decode("utf-8", errors="replace")


def _exit_status(returncode: int | None) -> int:
    """runsc reports a container killed by signal N as 128 + N; a plain process as -N."""
    if returncode is None:
        return -1
    if 128 < returncode <= 128 + 64:
        return -(returncode - 128)
    return returncode
