"""Rootless gVisor: the runner as an unprivileged user (nobody) runs `runsc --rootless`, without
cgroups, and a job still runs in gVisor, cut off from the network, without capabilities, and
gives the same analysis result as in-process.

The test drops from root to nobody (setpriv) in a private mount namespace (unshare), where the
directories on the way to the interpreter that nobody may not enter (a pyenv under /root) are
replaced by a traversable tmpfs holding bind mounts of what is needed; nothing on the host
changes. Needs root, runsc, unshare and setpriv: skipped with a reason without them, except in
CI (CI=true, root), where that fails the run.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import aether
from aether.analysis.findings import AnalysisResult
from aether.analysis.registry import run_analysis
from aether.sandbox.rootfs import prepare_root
from tests.integration.test_sandbox_gvisor import IN_CI, PROJECT_DIR, require_runsc
from tests.integration.test_sandbox_runner import make_job

NOBODY = 65534
DRIVER = """
import asyncio, json, os
from aether.config import load_settings
from aether.sandbox.factory import open_runner
from aether.sandbox.scripts import ScriptJob
from tests.integration.test_sandbox_runner import make_job

PROBE = '''
import json, os, socket
status = open("/proc/self/status").read()
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    network = "ok"
except OSError as exc:
    network = type(exc).__name__
json.dump(
    {"uid": os.getuid(), "capabilities": status.split("CapEff:")[1].split()[0],
     "network": network},
    open("output/result.json", "w"),
)
'''

async def main():
    async with open_runner(load_settings()) as runner:
        script = await runner.run_script(ScriptJob(script=PROBE, depth="quick"))
        analysis = await runner.run(make_job("energy"))
        print(json.dumps({
            "host_uid": os.geteuid(),
            "runner": runner.name,
            "rootless": runner.runsc.rootless,
            "description": runner.description,
            "script": script.result,
            "analysis": analysis.result.model_dump(mode="json"),
        }))

asyncio.run(main())
"""


def require_root_tools() -> None:
    require_runsc()
    missing = [tool for tool in ("unshare", "setpriv") if shutil.which(tool) is None]
    reason = None
    if os.geteuid() != 0:
        reason = "dropping to an unprivileged user needs root"
    elif missing:
        reason = f"{', '.join(missing)} not installed (util-linux)"
    if reason is not None:
        if IN_CI:
            pytest.fail(f"{reason}; CI must run the rootless gVisor test", pytrace=False)
        pytest.skip(reason)


def needed_paths() -> list[Path]:
    """What the unprivileged runner reads: the interpreter, its prefix, the venv, the project."""
    return [
        Path(sys.executable).resolve(),
        Path(sys.base_prefix).resolve(),
        Path(sys.prefix),
        Path(aether.__file__).resolve().parent,
        PROJECT_DIR,
    ]


def closed_directories(paths: list[Path]) -> dict[Path, set[str]]:
    """Directories on the way to `paths` that others may not enter, each with the names below it
    that lead on; nested closed directories are not supported (the test skips)."""
    closed: dict[Path, set[str]] = {}
    for path in paths:
        for parent, child in zip(path.parents, [path, *path.parents], strict=False):
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                closed.setdefault(parent, set()).add(child.name)
    if any(a != b and a.is_relative_to(b) for a in closed for b in closed):
        pytest.skip(f"nested directories closed to other users: {sorted(map(str, closed))}")
    return closed


def namespace_script(closed: dict[Path, set[str]], stage: Path, command: list[str]) -> str:
    """Shell lines for the private mount namespace: each closed directory becomes a tmpfs (mode
    755) holding bind mounts of the entries that lead on, then drop to nobody and run."""
    lines = ["set -e"]
    for index, (directory, names) in enumerate(sorted(closed.items())):
        saved = {name: stage / f"{index}-{name}" for name in sorted(names)}
        for name, copy in saved.items():
            copy.mkdir(parents=True)
            lines.append(shlex.join(["mount", "--bind", str(directory / name), str(copy)]))
        lines.append(
            shlex.join(["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", str(directory)])
        )
        for name, copy in saved.items():
            lines.append(shlex.join(["mkdir", str(directory / name)]))
            lines.append(shlex.join(["mount", "--bind", str(copy), str(directory / name)]))
    lines.append("exec " + shlex.join(command))
    return "\n".join(lines) + "\n"


@pytest.fixture
def nobody_home() -> Iterator[Path]:
    """A directory nobody owns, outside pytest's (root-only) temporary directory, with the
    sandbox root already in nobody's cache: built here as root it hard-links the libraries in a
    second, where nobody may only copy them (fs.protected_hardlinks)."""
    require_root_tools()
    home = Path(tempfile.mkdtemp(prefix="aether-rootless-"))
    home.chmod(0o755)
    try:
        cache = home / "cache" / "aether" / "sandbox-roots"
        root = prepare_root(cache)
        for owned in (home, *cache.parents[:3], cache, root):  # the root itself is touched
            os.chown(owned, NOBODY, NOBODY)
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_an_unprivileged_runner_runs_jobs_in_rootless_gvisor(nobody_home: Path) -> None:
    stage = Path(tempfile.mkdtemp(prefix="aether-rootless-stage-"))
    try:
        command = [
            "setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "env",
            "-i",
            f"PATH={Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin",
            f"HOME={nobody_home}",
            f"XDG_CACHE_HOME={nobody_home / 'cache'}",
            f"AETHER_DATA_DIR={nobody_home / 'data'}",
            f"PYTHONPATH={PROJECT_DIR}",
            "SANDBOX=gvisor",
            "SANDBOX_POOL_SIZE=0",
            "ENVIRONMENT=development",
            sys.executable,
            "-c",
            DRIVER,
        ]
        script = namespace_script(closed_directories(needed_paths()), stage, command)
        completed = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            cwd=nobody_home,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])

    assert report["host_uid"] == NOBODY
    assert (report["runner"], report["rootless"]) == ("gvisor", True)
    assert "cgroup limits" not in report["description"]
    # Inside: the sandbox's uid 0 is nobody outside; no capabilities, no network.
    assert report["script"] == {"uid": 0, "capabilities": "0000000000000000", "network": "OSError"}
    job = make_job("energy")
    expected = run_analysis("energy", job.frame, job.entities, job.params)
    assert AnalysisResult.model_validate(report["analysis"]).findings == expected.findings
