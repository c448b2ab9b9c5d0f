"""`aether sandbox run` and `aether sandbox check`, and the sandbox pre-flight of `aether serve`.

`run` puts a script and its input files through the configured sandbox exactly as an analysis job
would go (without a warm pool: one job needs no spare sandboxes). `check` runs the self-test with
short limits, so that the time-limit check takes seconds, and exits 1 when any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, Final, get_args

from aether.analysis.findings import AnalysisDepth
from aether.config import Settings
from aether.sandbox.factory import create_runner, gvisor_required, require_gvisor
from aether.sandbox.jobs import SandboxError, SandboxJobFailed, SandboxUnavailable
from aether.sandbox.policy import Policies
from aether.sandbox.scripts import ScriptJob, ScriptOutcome
from aether.sandbox.selftest import HostPaths, run_checks

CHECK_POLICIES: Final = Policies.scaled(timeout_seconds=15, memory_mb=512)
"""Short and small on purpose: the limit checks run into them (quick: 5 s, 256 MiB)."""


def add_parser(commands: Any) -> None:
    """Adds `sandbox run|check` to the `aether` command's subparsers."""
    sandbox = commands.add_parser("sandbox", help="run a script in the sandbox, or self-test it")
    actions = sandbox.add_subparsers(dest="sandbox_command", required=True)
    run = actions.add_parser("run", help="run a Python script in the configured sandbox")
    run.add_argument("script", type=Path, help="the script; it runs with input/ and output/")
    run.add_argument(
        "--input",
        dest="inputs",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="a file the script reads as input/<name> (repeatable)",
    )
    run.add_argument(
        "--depth",
        choices=list(get_args(AnalysisDepth)),
        default="standard",
        help="the policy (time and memory limits) to run under",
    )
    run.add_argument("--json", action="store_true", help="print one JSON object")
    actions.add_parser(
        "check",
        help="self-test: network blocked, host files unreadable, writes confined, limits enforced",
    )


def main(args: argparse.Namespace, settings: Settings) -> int:
    if args.sandbox_command == "run":
        return asyncio.run(_run(args, settings))
    return asyncio.run(_check(settings))


def preflight(settings: Settings) -> str | None:
    """Why this service must not start (gVisor required by the settings but unavailable), or
    None. Runs the same probe the runtime will, so the refusal is one line before any server."""
    if not gvisor_required(settings):
        return None
    try:
        asyncio.run(require_gvisor(settings))
    except SandboxUnavailable as exc:
        return str(exc)
    return None


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        job = ScriptJob(
            script=args.script.read_text(encoding="utf-8"),
            inputs={path.name: path.read_bytes() for path in args.inputs},
            depth=args.depth,
        )
    except (OSError, ValueError) as exc:
        print(f"aether sandbox run: {exc}", file=sys.stderr)
        return 2
    try:
        runner = await create_runner(settings.model_copy(update={"sandbox_pool_size": 0}))
    except SandboxUnavailable as exc:
        print(f"aether sandbox run: {exc}", file=sys.stderr)
        return 2
    await runner.start()
    try:
        outcome = await runner.run_script(job)
    except SandboxError as exc:
        _print_failure(exc, runner.description, args.json)
        return 1
    finally:
        await runner.aclose()
    _print_outcome(outcome, runner.description, args.json)
    return 0


def _print_outcome(outcome: ScriptOutcome, description: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"ok": True, "sandbox": description, **outcome.model_dump(mode="json")}))
        return
    sys.stdout.write(outcome.stdout)
    print(f"-- ok in {outcome.duration_seconds:.2f} s ({description})", file=sys.stderr)
    if outcome.result is not None:
        print(f"-- result.json: {json.dumps(outcome.result)}", file=sys.stderr)
    for file in outcome.files:
        print(f"-- output/{file.name}: {file.size} bytes, sha256 {file.sha256}", file=sys.stderr)


def _print_failure(exc: SandboxError, description: str, as_json: bool) -> None:
    stderr = exc.stderr_tail if isinstance(exc, SandboxJobFailed) else ""
    if as_json:
        report = {
            "ok": False,
            "sandbox": description,
            "error": str(exc),
            "error_type": type(exc).__name__,
            "stderr_tail": stderr,
        }
        print(json.dumps(report))
        return
    if stderr:
        print(stderr, file=sys.stderr)
    print(f"-- failed: {exc} ({description})", file=sys.stderr)


async def _check(settings: Settings) -> int:
    try:
        runner = await create_runner(
            settings.model_copy(update={"sandbox_pool_size": 0}), policies=CHECK_POLICIES
        )
    except SandboxUnavailable as exc:
        print(f"FAIL  sandbox: {exc}")
        return 1
    print(f"      sandbox: {runner.description}")
    host_paths = HostPaths.around(Path.cwd(), settings.aether_data_dir.resolve())
    failed = 0
    await runner.start()
    try:
        async for check in run_checks(runner, CHECK_POLICIES, host_paths):
            print(check.line(), flush=True)
            failed += not check.ok
    finally:
        await runner.aclose()
    return 1 if failed else 0
