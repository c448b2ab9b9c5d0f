"""`python -m aether.deploy`: run the distributed mesh (containers or processes); build images.

    up      containers with podman-compose / docker compose when an engine works, else `local`
    local   the four roles as local processes, in dependency order, until Ctrl-C or one dies
            (`--replicas gateway=2 --replicas ds-analysts=2`: several processes of a role)
    build   one image per role from Containerfile.service
    plan    print the start stages, ports and URLs; start nothing

Exit codes: 0 stopped on request, 1 a role died or never became ready (or no engine to build
with), 2 invalid topology or arguments.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from aether.deploy.engine import (
    COMPOSE_FILES,
    ComposeTool,
    build_command,
    compose_command,
    detect,
)
from aether.deploy.errors import DeployError, LaunchInterrupted, TopologyError
from aether.deploy.launcher import (
    DEFAULT_READY_TIMEOUT,
    DEFAULT_STOP_GRACE,
    Deployment,
    RoleExit,
)
from aether.deploy.loader import load_topology
from aether.deploy.plan import (
    DeploymentPlan,
    LaunchOptions,
    replicas_without_shared_database,
    resolve,
)
from aether.deploy.process import describe_exit

PROG = "python -m aether.deploy"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command: str = args.command
    try:
        if command == "build":
            return _build(args)
        plan = resolve(load_topology(args.topology), _options(args))
    except TopologyError as exc:
        _say(f"invalid topology: {exc}")
        return 2
    if command == "plan":
        _print_plan(plan)
        return 0
    if unshared := replicas_without_shared_database(plan):
        _say(
            f"DATABASE_URL is not set, so each replica of {', '.join(unshared)} gets a SQLite "
            "database of its own and they share no conversations, runs or tasks; set it to "
            "one PostgreSQL database (docs/operations.md)"
        )
    if command == "up":
        return _up(args, plan)
    return run_local(plan, ready_timeout=args.ready_timeout, stop_grace=args.stop_grace)


def run_local(plan: DeploymentPlan, *, ready_timeout: float, stop_grace: float) -> int:
    """Start the plan, block until Ctrl-C / SIGTERM (exit 0) or until a role dies (exit 1)."""
    deployment = Deployment(plan, ready_timeout=ready_timeout, stop_grace=stop_grace)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # Not called here: the interrupted main thread may hold the lock of an Event it uses.
        threading.Thread(target=deployment.request_stop, name="stop-request").start()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with deployment:
            _announce(deployment)
            died = _wait_while_a_replica_serves(deployment)
    except LaunchInterrupted:
        _say("stopped before every role was ready")
        return 0
    except DeployError as exc:
        _say(str(exc))
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if died is not None:
        _say(f"{died.role} exited ({describe_exit(died.code)}); stopped every other role")
        return 1
    return 0


def _wait_while_a_replica_serves(deployment: Deployment) -> RoleExit | None:
    """Until a stop request (None), or until a role has no replica left (its last exit).

    A replica that dies while others of its role still serve is reported, not fatal: that is
    what replicas are for.
    """
    seen = 0
    while (died := deployment.wait(seen=seen)) is not None:
        seen += 1
        survivors = deployment.survivors(died)
        if not survivors:
            return died
        names = ", ".join(process.name for process in survivors)
        _say(f"{died.role} exited ({describe_exit(died.code)}); {names} still serving")
    return None


def _up(args: argparse.Namespace, plan: DeploymentPlan) -> int:
    project = Path(args.project_dir)
    detection = detect()
    ports = sorted(process.port for process in plan.processes)
    where = f"as local processes on ports {ports[0]}-{ports[-1]}"
    if detection.compose is not None and _has_compose_files(project):
        if not args.replicas:
            return _compose_up(detection.compose, project)
        # The compose files pin one container (name, host port) per role.
        _say(f"replicas are started {where}, not with {detection.compose.engine.name}")
        return run_local(plan, ready_timeout=args.ready_timeout, stop_grace=args.stop_grace)
    reason = detection.reason or f"no {' / '.join(COMPOSE_FILES)} in {project.resolve()}"
    _say(f"{reason}; starting the roles {where} instead")
    return run_local(plan, ready_timeout=args.ready_timeout, stop_grace=args.stop_grace)


def _compose_up(tool: ComposeTool, project: Path) -> int:
    command = compose_command(tool, "up", "--build")
    _say(f"{tool.engine.name} works; running: {' '.join(command)}")
    os.chdir(project)
    os.execvp(command[0], command)  # compose owns the terminal and Ctrl-C from here on


def _build(args: argparse.Namespace) -> int:
    project = Path(args.project_dir)
    detection = detect()
    if detection.engine is None:
        _say(f"{detection.reason}; no image built")
        return 1
    for role in load_topology(args.topology).roles:
        command = build_command(detection.engine, role)
        _say(f"building {role}: {' '.join(command)}")
        if subprocess.run(command, cwd=project, check=False).returncode != 0:
            _say(f"building the {role} image failed")
            return 1
    return 0


def _announce(deployment: Deployment) -> None:
    urls = deployment.urls
    say = deployment.sink.say
    say("every role is ready (Ctrl-C stops them all):")
    for name in deployment.plan.start_order[::-1]:
        say(f"  {name:<16} {', '.join(deployment.replica_urls[name])}")
    if "gateway" in urls:
        say(f"  try: curl {urls['gateway']}/api/v1/health")
    if "architect" in urls:
        say(f"       curl {urls['architect']}/.well-known/agent-card.json")
    if "SERVICE_TOKEN" not in os.environ:
        say("  SERVICE_TOKEN was generated for this run; set it to call the agents directly")


def _print_plan(plan: DeploymentPlan) -> None:
    for number, stage in enumerate(plan.stages, start=1):
        print(f"stage {number}: {', '.join(stage)}")
    for process in plan.processes:
        print(
            f"{process.name}: {' '.join(process.argv)} -> {process.base_url} "
            f"(ready: {process.ready_url})"
        )


def _has_compose_files(project: Path) -> bool:
    return all((project / name).is_file() for name in COMPOSE_FILES)


def _options(args: argparse.Namespace) -> LaunchOptions:
    return LaunchOptions(
        host=args.host,
        base_port=args.base_port,
        data_dir=Path(args.data_dir),
        replicas=dict(args.replicas),
    )


def _replica_count(text: str) -> tuple[str, int]:
    """`ROLE=N` from the command line."""
    role, separator, count = text.partition("=")
    if not separator or not role or not count.isdigit():
        raise argparse.ArgumentTypeError(f"expected ROLE=N (e.g. ds-analysts=2), got {text!r}")
    return role, int(count)


def _say(text: str) -> None:
    print(f"aether.deploy: {text}", file=sys.stderr, flush=True)


def _default_data_dir() -> str:
    return str(Path(os.environ.get("AETHER_DATA_DIR") or "var") / "distributed")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    helps = {
        "up": "containers if an engine works, else local processes",
        "local": "the roles as local processes",
        "plan": "print the start order, ports and URLs",
    }
    for name, text in helps.items():
        command = commands.add_parser(name, help=text)
        command.add_argument("--topology", type=Path, help="topology file (default: Aether's)")
        command.add_argument("--host", default="127.0.0.1", help="bind address of every role")
        command.add_argument(
            "--base-port", type=int, help="shift the ports so the lowest is this one"
        )
        command.add_argument(
            "--replicas",
            type=_replica_count,
            action="append",
            default=[],
            metavar="ROLE=N",
            help="run N processes of ROLE (repeatable); the roles that call it get every "
            "replica's URL, comma-separated. Extra replicas take the ports above the highest one",
        )
        command.add_argument(
            "--data-dir",
            default=_default_data_dir(),
            help="one sub-directory per role (default: $AETHER_DATA_DIR/distributed or "
            "var/distributed)",
        )
        command.add_argument(
            "--ready-timeout",
            type=float,
            default=DEFAULT_READY_TIMEOUT,
            help="seconds each role may take to become ready",
        )
        command.add_argument(
            "--stop-grace",
            type=float,
            default=DEFAULT_STOP_GRACE,
            help="seconds between SIGTERM and SIGKILL when stopping a role",
        )
        command.add_argument("--project-dir", default=".", help="where the compose files are")
    build = commands.add_parser("build", help="build one image per role")
    build.add_argument("--topology", type=Path, help="topology file (default: Aether's)")
    build.add_argument("--project-dir", default=".", help="the build context (repository root)")
    return parser
