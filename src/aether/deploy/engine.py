"""Finds a working container engine and compose tool, for `make run-distributed` and image builds.

An engine counts only if `podman info` / `docker info` succeeds: an installed client with no
daemon or no user namespace support cannot start a container, and then the launcher runs the
roles as local processes instead.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

COMPOSE_FILES = ("compose.yaml", "compose.distributed.yaml")
COMPOSE_PROFILE = "full"
# Named here, not in compose.yaml: Debian's docker-compose 1.29 rejects a top-level `name`.
COMPOSE_PROJECT = "aether"
CONTAINERFILE = "Containerfile.service"
PROBE_TIMEOUT_SECONDS = 30

Which = Callable[[str], str | None]
Succeeds = Callable[[Sequence[str]], bool]


@dataclass(frozen=True)
class Engine:
    name: str
    program: str


@dataclass(frozen=True)
class ComposeTool:
    argv: tuple[str, ...]
    engine: Engine


@dataclass(frozen=True)
class Detection:
    engine: Engine | None
    compose: ComposeTool | None
    # Why there is no engine or no compose tool, in one line; empty when both were found.
    reason: str


def succeeds(argv: Sequence[str]) -> bool:
    """True if the command exits 0 within the timeout; its output is discarded."""
    try:
        completed = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=PROBE_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return completed.returncode == 0


def detect(which: Which = shutil.which, run: Succeeds = succeeds) -> Detection:
    """Podman first (rootless, the engine the guide uses), then Docker."""
    notes: list[str] = []
    for name in ("podman", "docker"):
        program = which(name)
        if program is None:
            notes.append(f"{name} is not installed")
            continue
        if not run([program, "info"]):
            notes.append(f"`{name} info` failed")
            continue
        engine = Engine(name, program)
        compose = _find_compose(engine, which, run)
        if compose is None:
            tools = "podman-compose" if name == "podman" else "docker compose / docker-compose"
            return Detection(engine, None, f"{name} works but no compose tool ({tools}) was found")
        return Detection(engine, compose, "")
    return Detection(None, None, "no container engine: " + ", ".join(notes))


def _find_compose(engine: Engine, which: Which, run: Succeeds) -> ComposeTool | None:
    if engine.name == "podman":
        candidates: list[tuple[str, ...]] = [("podman-compose",), (engine.program, "compose")]
    else:
        candidates = [(engine.program, "compose"), ("docker-compose",)]
    for candidate in candidates:
        program = which(candidate[0])
        if program is None:
            continue
        argv = (program, *candidate[1:])
        if run([*argv, "version"]):
            return ComposeTool(argv, engine)
    return None


def compose_command(tool: ComposeTool, *args: str) -> list[str]:
    """`<compose> -p aether -f compose.yaml -f compose.distributed.yaml --profile full <args>`."""
    files = [part for path in COMPOSE_FILES for part in ("-f", path)]
    return [*tool.argv, "-p", COMPOSE_PROJECT, *files, "--profile", COMPOSE_PROFILE, *args]


def image_name(role: str) -> str:
    """The tag compose.yaml gives each role's image, so `make build-services` feeds compose."""
    return f"aether-{role}:latest"


def build_command(engine: Engine, role: str) -> list[str]:
    return [
        engine.program,
        "build",
        "--build-arg",
        f"AETHER_SERVICE={role}",
        "-t",
        image_name(role),
        "-f",
        CONTAINERFILE,
        ".",
    ]
