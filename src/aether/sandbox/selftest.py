"""`aether sandbox check`: real jobs that try to break out of the configured sandbox, one line each.

Every check runs a script job through the same runner the analysts use and judges what came back:
the network (a server the check opens on the host's loopback, and an outside address), host files
(`/etc/shadow`, the home directory, the project, the data directory), writes outside the output
directory, the identity of the job, and the memory, process, time and output limits. Under the
process fallback several checks fail, which is the point: it is not an isolation boundary.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from aether.sandbox.jobs import SandboxError, SandboxJobFailed, SandboxLimitExceeded, SandboxTimeout
from aether.sandbox.policy import MIB, Policies, SandboxPolicy
from aether.sandbox.runner import SandboxRunner
from aether.sandbox.scripts import ScriptJob

PROBE_FILE: Final = "probe.json"
WRITE_TARGETS: Final = ("/escape", "/usr/escape", "/etc/escape", "/job/escape", "/job/input/escape")
ALLOWED_WRITE: Final = "output/allowed"

ISOLATION_SCRIPT: Final = """
import json, os, socket

probe = json.load(open("input/probe.json"))
report = {"connect": {}, "read": {}, "write": {}}

def outcome(action):
    try:
        action()
        return "ok"
    except OSError as error:
        return type(error).__name__

def connect(host, port):
    socket.create_connection((host, port), timeout=2).close()

report["connect"]["loopback"] = outcome(lambda: connect("127.0.0.1", probe["port"]))
report["connect"]["outside"] = outcome(lambda: connect("1.1.1.1", 53))
for path in probe["read"]:
    report["read"][path] = outcome(lambda: open(path, "rb").read(1))
for path in probe["write"]:
    report["write"][path] = outcome(lambda: open(path, "w").write("x"))
status = dict(line.split(":\\t", 1) for line in open("/proc/self/status") if ":\\t" in line)
report["uid"] = os.getuid()
report["capabilities"] = status.get("CapEff", "").strip()
json.dump(report, open("output/result.json", "w"))
"""

FORK_SCRIPT: Final = """
import json, os, time
children = 0
error = None
try:
    while children < 10_000:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
except OSError as exc:
    error = type(exc).__name__
json.dump({"children": children, "error": error}, open("output/result.json", "w"))
"""

FILE_SIZE_SCRIPT: Final = """
import json
try:
    with open("output/big.bin", "wb") as file:
        file.write(b"x" * {size})
    error = None
except OSError as exc:
    error = type(exc).__name__
json.dump({{"error": error}}, open("output/result.json", "w"))
"""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


@dataclass(frozen=True)
class HostPaths:
    """Host files the job must not read: each an existing file, so that 'not found' inside the
    sandbox means hidden rather than absent."""

    paths: list[Path]

    @classmethod
    def around(cls, project_dir: Path, data_dir: Path) -> HostPaths:
        candidates = [Path("/etc/shadow"), *_first_file(Path.home())]
        candidates += [project_dir / ".env", project_dir / "pyproject.toml"]
        candidates += [*_first_file(data_dir)]
        return cls(paths=[path for path in candidates if path.is_file()])


async def run_checks(
    runner: SandboxRunner, policies: Policies, host_paths: HostPaths
) -> AsyncIterator[Check]:
    """One check at a time, in a fixed order; a failing check never stops the others. Outside
    gVisor the checks that would write to the host or fork without bound are not attempted."""
    isolated = runner.name == "gvisor"
    quick, standard = policies.quick, policies.standard
    checks: list[Callable[[], Awaitable[list[Check]]]] = [
        lambda: _starts(runner),
        lambda: _isolation(runner, host_paths, attempt_writes=isolated),
        lambda: _memory(runner, quick),
        # forking up to the limit takes seconds under gVisor: the standard policy's time
        lambda: _processes(runner, standard) if isolated else _not_attempted("processes limited"),
        lambda: _time(runner, quick),
        lambda: _stdout(runner, quick),
        lambda: _file_size(runner, quick),
    ]
    for check in checks:
        for result in await check():
            yield result


async def _starts(runner: SandboxRunner) -> list[Check]:
    started = time.monotonic()
    try:
        outcome = await runner.run_script(ScriptJob(script="print('ok')", depth="quick"))
    except SandboxError as exc:
        return [Check("job runs", False, str(exc))]
    seconds = time.monotonic() - started
    detail = f"a trivial script in {runner.description} took {seconds:.2f} s"
    return [Check("job runs", outcome.stdout.strip() == "ok", detail)]


async def _isolation(
    runner: SandboxRunner, host_paths: HostPaths, attempt_writes: bool
) -> list[Check]:
    server, port = await loopback_server()
    targets = [*WRITE_TARGETS, ALLOWED_WRITE] if attempt_writes else []
    probe = {"port": port, "read": [str(path) for path in host_paths.paths], "write": targets}
    job = ScriptJob(
        script=ISOLATION_SCRIPT, inputs={PROBE_FILE: json.dumps(probe).encode()}, depth="quick"
    )
    try:
        outcome = await runner.run_script(job)
    except SandboxError as exc:
        return [Check("isolation probe", False, str(exc))]
    finally:
        server.close()
        await server.wait_closed()
    report: dict[str, Any] = outcome.result or {}
    connect: dict[str, str] = report.get("connect", {})
    reads: dict[str, str] = report.get("read", {})
    writes: dict[str, str] = report.get("write", {})
    capabilities = int(report.get("capabilities") or "0", 16)
    checks = [
        Check(
            "network blocked",
            bool(connect) and all(result != "ok" for result in connect.values()),
            f"host loopback 127.0.0.1:{port} {connect.get('loopback')}, "
            f"1.1.1.1:53 {connect.get('outside')}",
        ),
        Check(
            "host files unreadable",
            len(reads) == len(host_paths.paths) and all(r != "ok" for r in reads.values()),
            ", ".join(f"{path} {result}" for path, result in reads.items()) or "none to try",
        ),
        Check(
            "job unprivileged",
            _unprivileged(report.get("uid")) and capabilities == 0,
            f"uid {report.get('uid')}{_rootless_note(report.get('uid'))}, "
            f"effective capabilities {capabilities:#x}",
        ),
    ]
    if not attempt_writes:
        return [*checks, *(await _not_attempted("writes confined to output/"))]
    confined = all(writes.get(target) not in (None, "ok") for target in WRITE_TARGETS)
    checks.append(
        Check(
            "writes confined to output/",
            confined and writes.get(ALLOWED_WRITE) == "ok",
            ", ".join(f"{path} {result}" for path, result in writes.items()),
        )
    )
    return checks


async def _not_attempted(name: str) -> list[Check]:
    return [Check(name, False, "not attempted: a plain subprocess could harm the host")]


async def _expect_failure(
    runner: SandboxRunner, job: ScriptJob, expected: type[SandboxError]
) -> tuple[bool, str]:
    started = time.monotonic()
    try:
        outcome = await runner.run_script(job)
    except expected as exc:
        return True, f"{exc} (after {time.monotonic() - started:.1f} s)"
    except SandboxError as exc:
        return False, f"failed differently: {exc}"
    return False, f"the job completed: {json.dumps(outcome.result)[:200]}"


def _unprivileged(uid: object) -> bool:
    """Not root; or root inside a rootless sandbox, which is the service's own unprivileged user
    on the host (the only identity runsc --rootless maps)."""
    return isinstance(uid, int) and (uid != 0 or os.geteuid() != 0)


def _rootless_note(uid: object) -> str:
    if uid == 0 and os.geteuid() != 0:
        return f" (rootless: uid {os.geteuid()} on the host)"
    return ""


async def _memory(runner: SandboxRunner, policy: SandboxPolicy) -> list[Check]:
    size = (policy.memory_mb + 256) * MIB
    ok, detail = await _expect_failure(
        runner,
        ScriptJob(script=f"block = bytearray({size})", depth=policy.depth),
        SandboxJobFailed,
    )
    return [
        Check(f"memory limited to {policy.memory_mb} MiB", ok and "MemoryError" in detail, detail)
    ]


async def _processes(runner: SandboxRunner, policy: SandboxPolicy) -> list[Check]:
    name = f"processes limited to {policy.processes}"
    try:
        outcome = await runner.run_script(ScriptJob(script=FORK_SCRIPT, depth=policy.depth))
    except SandboxError as exc:
        return [Check(name, False, str(exc))]
    report: dict[str, Any] = outcome.result or {}
    children = int(report.get("children", 0))
    ok = report.get("error") is not None and children < policy.processes
    return [Check(name, ok, f"fork failed with {report.get('error')} after {children} children")]


async def _time(runner: SandboxRunner, policy: SandboxPolicy) -> list[Check]:
    ok, detail = await _expect_failure(
        runner, ScriptJob(script="while True:\n    pass", depth=policy.depth), SandboxTimeout
    )
    return [Check(f"time limited to {policy.timeout_seconds:g} s", ok, detail)]


async def _stdout(runner: SandboxRunner, policy: SandboxPolicy) -> list[Check]:
    ok, detail = await _expect_failure(
        runner,
        ScriptJob(script="print('x' * 200_000)", depth=policy.depth),
        SandboxLimitExceeded,
    )
    return [Check("standard output limited", ok, detail)]


async def _file_size(runner: SandboxRunner, policy: SandboxPolicy) -> list[Check]:
    name = f"file size limited to {policy.file_bytes // MIB} MiB"
    script = FILE_SIZE_SCRIPT.format(size=policy.file_bytes + MIB)
    try:
        outcome = await runner.run_script(ScriptJob(script=script, depth=policy.depth))
    except SandboxError as exc:
        return [Check(name, False, str(exc))]
    error = (outcome.result or {}).get("error")
    detail = f"writing {policy.file_bytes // MIB + 1} MiB failed with {error}"
    return [Check(name, error is not None, detail)]


def _first_file(directory: Path) -> list[Path]:
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        return []
    return [entry for entry in entries if entry.is_file() and not entry.is_symlink()][:1]


async def loopback_server() -> tuple[asyncio.Server, int]:
    """A server on the host's loopback that the job must not reach."""
    server = await asyncio.start_server(lambda reader, writer: writer.close(), "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    return server, port
