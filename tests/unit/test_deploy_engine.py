"""Which container engine and compose tool `make run-distributed` picks, and what it runs."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from aether.deploy.engine import (
    ComposeTool,
    Engine,
    Succeeds,
    Which,
    build_command,
    compose_command,
    detect,
)


def machine(installed: set[str], working: set[tuple[str, ...]]) -> tuple[Which, Succeeds]:
    """`which` and `run` for a machine with `installed` programs; `working` commands exit 0."""

    def which(name: str) -> str | None:
        name = name.removeprefix("/usr/bin/")  # like shutil.which, an absolute path is checked
        return f"/usr/bin/{name}" if name in installed else None

    def run(argv: Sequence[str]) -> bool:
        return tuple(part.removeprefix("/usr/bin/") for part in argv) in working

    return which, run


def test_nothing_installed() -> None:
    which, run = machine(set(), set())
    found = detect(which, run)
    assert (found.engine, found.compose) == (None, None)
    assert found.reason == "no container engine: podman is not installed, docker is not installed"


def test_clients_without_a_working_engine_do_not_count() -> None:
    which, run = machine({"podman", "docker", "podman-compose"}, {("podman-compose", "version")})
    found = detect(which, run)
    assert found.engine is None
    assert found.reason == "no container engine: `podman info` failed, `docker info` failed"


def test_podman_with_podman_compose_is_preferred() -> None:
    which, run = machine(
        {"podman", "podman-compose", "docker"},
        {("podman", "info"), ("podman-compose", "version"), ("docker", "info")},
    )
    found = detect(which, run)
    podman = Engine("podman", "/usr/bin/podman")
    assert found.compose == ComposeTool(("/usr/bin/podman-compose",), podman)
    assert found.reason == ""


@pytest.mark.parametrize(
    ("working", "argv"),
    [
        ({("docker", "compose", "version")}, ("/usr/bin/docker", "compose")),
        ({("docker-compose", "version")}, ("/usr/bin/docker-compose",)),
    ],
)
def test_docker_with_either_compose(working: set[tuple[str, ...]], argv: tuple[str, ...]) -> None:
    which, run = machine({"docker", "docker-compose"}, {("docker", "info"), *working})
    found = detect(which, run)
    assert found.compose is not None
    assert found.compose.argv == argv


def test_an_engine_without_compose_is_reported() -> None:
    which, run = machine({"docker"}, {("docker", "info")})
    found = detect(which, run)
    assert found.engine == Engine("docker", "/usr/bin/docker")
    assert found.compose is None
    assert found.reason == (
        "docker works but no compose tool (docker compose / docker-compose) was found"
    )


def test_compose_and_build_commands_follow_the_guide() -> None:
    podman = Engine("podman", "podman")
    assert compose_command(ComposeTool(("podman-compose",), podman), "up", "--build") == [
        "podman-compose",
        "-p",
        "aether",
        "-f",
        "compose.yaml",
        "-f",
        "compose.distributed.yaml",
        "--profile",
        "full",
        "up",
        "--build",
    ]
    assert build_command(podman, "ds-analysts") == [
        "podman",
        "build",
        "--build-arg",
        "AETHER_SERVICE=ds-analysts",
        "-t",
        "aether-ds-analysts:latest",
        "-f",
        "Containerfile.service",
        ".",
    ]
