"""Picks and opens the runner for this host from the settings; analysts only ever see `Runner`.

SANDBOX=gvisor needs gVisor, SANDBOX=process never uses it, SANDBOX=auto (the default) uses it
when a probe job really runs in it and otherwise falls back to plain subprocesses, saying so in
the log and in /health. ENVIRONMENT=production refuses to start without gVisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aether.config import Environment, SandboxMode, Settings
from aether.sandbox.artifacts import ArtifactSink
from aether.sandbox.gvisor_runner import GVisorRunner
from aether.sandbox.jobs import SandboxError, SandboxUnavailable
from aether.sandbox.policy import Policies
from aether.sandbox.rootfs import RootBuildError, prepare_root
from aether.sandbox.runner import SandboxRunner
from aether.sandbox.runsc import Runsc, RunscError
from aether.sandbox.scripts import ScriptJob
from aether.sandbox.subprocess_runner import SubprocessRunner

log = logging.getLogger(__name__)

PROBE_SCRIPT: Final = "print('ok')"
PROBE_POLICIES: Final = Policies.scaled(timeout_seconds=30, memory_mb=512)


_PROBED: dict[tuple[str, Path], GVisorSetup] = {}
"""Probes that passed in this process, per runsc binary and root: a service (or a test session)
that opens its runtime again does not pay for a probe job again. A failed probe is not kept."""


@dataclass(frozen=True)
class GVisorSetup:
    """What the probe found to work on this host."""

    root: Path
    cgroups: bool
    version: str


def _remove_if_empty(directory: Path) -> None:
    """The probe's directory, unless another process is probing in it too."""
    with contextlib.suppress(OSError):
        directory.rmdir()


def sandbox_dir(settings: Settings) -> Path:
    """Job directories and runsc's state, per service process."""
    return settings.aether_data_dir.resolve() / "sandbox"


def root_cache(settings: Settings) -> Path:
    """Roots are shared by every data directory of this user (they depend on the code only):
    under XDG_CACHE_HOME (~/.cache), or in the data directory when that is not writable."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cache = base / "aether" / "sandbox-roots"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        return sandbox_dir(settings) / "roots"
    return cache if os.access(cache, os.W_OK) else sandbox_dir(settings) / "roots"


async def probe_gvisor(runsc_binary: str, cache_dir: Path, work_dir: Path) -> GVisorSetup:
    """Build (or find) the root and run a job in it; with cgroup limits first where the service
    may create cgroups, without them when that fails. SandboxUnavailable says why not."""
    runsc = Runsc.locate(runsc_binary, work_dir / "state")
    try:
        version = await runsc.version()
        root = await asyncio.to_thread(prepare_root, cache_dir)
    except (RunscError, RootBuildError) as exc:
        raise SandboxUnavailable(str(exc)) from None
    known = _PROBED.get((runsc.binary, root))
    if known is not None:
        return known
    reason = ""
    for cgroups in (True, False) if not runsc.rootless else (False,):
        runner = GVisorRunner(runsc_binary, root, work_dir, PROBE_POLICIES, cgroups=cgroups)
        await runner.start()
        try:
            outcome = await runner.run_script(ScriptJob(script=PROBE_SCRIPT, depth="quick"))
            if outcome.stdout.strip() == "ok":
                setup = GVisorSetup(root=root, cgroups=cgroups, version=version)
                _PROBED[(runsc.binary, root)] = setup
                return setup
            reason = f"the probe job printed {outcome.stdout[:100]!r}"
        except SandboxError as exc:
            reason = str(exc)
        finally:
            await runner.aclose()
            await asyncio.to_thread(_remove_if_empty, work_dir)
    raise SandboxUnavailable(f"runsc cannot run the probe job: {reason}")


def policies_of(settings: Settings) -> Policies:
    return Policies.scaled(settings.analysis_timeout_seconds, settings.sandbox_memory_mb)


def gvisor_required(settings: Settings) -> bool:
    return settings.environment is Environment.PRODUCTION or settings.sandbox is SandboxMode.GVISOR


async def require_gvisor(settings: Settings) -> GVisorSetup:
    """The probe's findings; SandboxUnavailable, with the setting that demands gVisor, when it
    is unavailable."""
    if settings.sandbox is SandboxMode.PROCESS:
        raise SandboxUnavailable(
            "SANDBOX=process is not allowed with ENVIRONMENT=production: "
            "analysis jobs must run in gVisor"
        )
    try:
        return await probe_gvisor(
            settings.sandbox_runsc, root_cache(settings), sandbox_dir(settings) / "probe"
        )
    except SandboxUnavailable as exc:
        setting = (
            "ENVIRONMENT=production"
            if settings.environment is Environment.PRODUCTION
            else f"SANDBOX={settings.sandbox.value}"
        )
        raise SandboxUnavailable(
            f"{setting} requires gVisor, which is unavailable: {exc}"
        ) from None


async def create_runner(
    settings: Settings, policies: Policies | None = None, artifacts: ArtifactSink | None = None
) -> GVisorRunner | SubprocessRunner:
    """The runner the settings ask for; `policies` replace the ones scaled from the settings,
    `artifacts` (the store) receives the tables and charts of analysis jobs."""
    policies = policies or policies_of(settings)
    work_dir = sandbox_dir(settings)
    if gvisor_required(settings):
        setup = await require_gvisor(settings)
    elif settings.sandbox is SandboxMode.PROCESS:
        log.warning("SANDBOX=process: analysis jobs run as plain subprocesses, not in gVisor")
        return SubprocessRunner(
            work_dir=work_dir,
            policies=policies,
            description="subprocess (SANDBOX=process)",
            artifacts=artifacts,
        )
    else:
        try:
            setup = await probe_gvisor(
                settings.sandbox_runsc, root_cache(settings), work_dir / "probe"
            )
        except SandboxUnavailable as exc:
            return _fallback(work_dir, policies, str(exc), artifacts)
    log.info("analysis jobs run in gVisor (runsc %s), root %s", setup.version, setup.root)
    return GVisorRunner(
        settings.sandbox_runsc,
        setup.root,
        work_dir,
        policies,
        pool_size=settings.sandbox_pool_size,
        cgroups=setup.cgroups,
        version=setup.version,
        artifacts=artifacts,
    )


def _fallback(
    work_dir: Path, policies: Policies, reason: str, artifacts: ArtifactSink | None
) -> SubprocessRunner:
    log.warning(
        "gVisor is unavailable (%s): analysis jobs run as plain subprocesses "
        "(rlimits, timeout, scrubbed environment), not in gVisor",
        reason,
    )
    return SubprocessRunner(
        work_dir=work_dir,
        policies=policies,
        description=f"subprocess (gVisor unavailable: {reason})",
        artifacts=artifacts,
    )


@asynccontextmanager
async def open_runner(
    settings: Settings, artifacts: ArtifactSink | None = None
) -> AsyncIterator[SandboxRunner]:
    """The started runner (its warm pool filling), closed and drained on exit."""
    runner = await create_runner(settings, artifacts=artifacts)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.aclose()
