"""Turns a topology into a deployment plan: start stages, ports, URLs, argv, environment per role.

The plan is pure data, computed before anything starts, so the start order and what each role is
told about the others can be checked without running a process.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aether.deploy.errors import TopologyError
from aether.deploy.model import Topology

SERVICE_TOKEN = "SERVICE_TOKEN"
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


@dataclass(frozen=True)
class LaunchOptions:
    """How to place the topology on this machine; the defaults are `make run-distributed`'s."""

    host: str = "127.0.0.1"
    # Explicit port per role (tests pass free ports); roles not named keep their (shifted) port.
    ports: Mapping[str, int] = field(default_factory=dict)
    # Shifts every declared port so the lowest one becomes base_port (e.g. 9000 -> 9000..9003).
    base_port: int | None = None
    # Each role gets its own sub-directory, so SQLite files and demo data are never shared.
    data_dir: Path = Path("var/distributed")
    # None: SERVICE_TOKEN from the environment, or a fresh random token for this run.
    service_token: str | None = None
    # The environment the roles inherit; None means this process's environment.
    environment: Mapping[str, str] | None = None
    # Added to every role's environment after the topology's (e.g. LLM settings in tests).
    extra_env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None


@dataclass(frozen=True)
class RolePlan:
    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    port: int
    base_url: str
    health_url: str
    ready_url: str
    data_dir: Path


@dataclass(frozen=True)
class DeploymentPlan:
    name: str
    stages: tuple[tuple[str, ...], ...]
    roles: Mapping[str, RolePlan]
    service_token: str
    host: str = "127.0.0.1"
    cwd: Path | None = None

    @property
    def start_order(self) -> list[str]:
        return [role for stage in self.stages for role in stage]

    @property
    def stop_stages(self) -> list[tuple[str, ...]]:
        """Dependents stop before what they depend on, so no role loses its downstream early."""
        return list(reversed(self.stages))

    @property
    def urls(self) -> dict[str, str]:
        return {name: role.base_url for name, role in self.roles.items()}


def start_stages(topology: Topology) -> list[list[str]]:
    """Roles grouped by level: each stage needs only roles of earlier stages.

    Within a stage the roles keep their order in the file. The topology is already known to be
    acyclic (the model checks it), so every round places at least one role.
    """
    placed: set[str] = set()
    stages: list[list[str]] = []
    while len(placed) < len(topology.roles):
        stage = [
            name
            for name, spec in topology.roles.items()
            if name not in placed and all(dep in placed for dep in spec.depends_on)
        ]
        if not stage:  # unreachable for a validated topology; guards hand-built ones
            raise TopologyError("dependency cycle among: " + ", ".join(sorted(topology.roles)))
        stages.append(stage)
        placed.update(stage)
    return stages


def dependency_closure(topology: Topology, role: str) -> list[str]:
    """Every role that `role` depends on, directly or through others, nearest first."""
    seen: list[str] = []
    queue = list(topology.roles[role].depends_on)
    while queue:
        name = queue.pop(0)
        if name not in seen:
            seen.append(name)
            queue.extend(topology.roles[name].depends_on)
    return seen


def assign_ports(topology: Topology, options: LaunchOptions) -> dict[str, int]:
    unknown = sorted(set(options.ports) - set(topology.roles))
    if unknown:
        raise TopologyError(f"ports given for unknown roles: {', '.join(unknown)}")
    shift = 0
    if options.base_port is not None:
        shift = options.base_port - min(spec.port for spec in topology.roles.values())
    ports = {
        name: options.ports.get(name, spec.port + shift) for name, spec in topology.roles.items()
    }
    for name, port in ports.items():
        if not 1 <= port <= 65535:
            raise TopologyError(f"role {name!r}: port {port} is out of range")
    owners: dict[int, str] = {}
    for name, port in ports.items():
        if port in owners:
            raise TopologyError(f"port {port} is assigned to both {owners[port]!r} and {name!r}")
        owners[port] = name
    return ports


def resolve(topology: Topology, options: LaunchOptions | None = None) -> DeploymentPlan:
    options = options or LaunchOptions()
    base_env = dict(os.environ if options.environment is None else options.environment)
    token = options.service_token or base_env.get(SERVICE_TOKEN) or secrets.token_urlsafe(32)
    ports = assign_ports(topology, options)
    url_host = _url_host(options.host)
    urls = {name: f"http://{url_host}:{port}" for name, port in ports.items()}
    data_root = options.data_dir.resolve()
    roles: dict[str, RolePlan] = {}
    for name, spec in topology.roles.items():
        env = {**base_env, "PYTHONUNBUFFERED": "1", **topology.environment, **spec.environment}
        env.update(options.extra_env)
        env.update(
            {
                "HOST": options.host,
                "PORT": str(ports[name]),
                SERVICE_TOKEN: token,
                "AETHER_DATA_DIR": str(data_root / name),
            }
        )
        for dependency in dependency_closure(topology, name):
            url_env = topology.roles[dependency].url_env
            if url_env is not None:  # the model guarantees it for every dependency
                env[url_env] = urls[dependency]
        if spec.public_url_env is not None:
            env[spec.public_url_env] = urls[name]
        roles[name] = RolePlan(
            name=name,
            argv=(_executable(name, spec.command[0]), *spec.command[1:]),
            env=env,
            port=ports[name],
            base_url=urls[name],
            health_url=urls[name] + spec.health_path,
            ready_url=urls[name] + spec.ready_path,
            data_dir=data_root / name,
        )
    stages = tuple(tuple(stage) for stage in start_stages(topology))
    return DeploymentPlan(
        name=topology.name,
        stages=stages,
        roles=roles,
        service_token=token,
        host=options.host,
        cwd=options.cwd,
    )


def _url_host(host: str) -> str:
    """Where the other roles reach a role bound to `host` (a wildcard bind is reached locally)."""
    if host in WILDCARD_HOSTS:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _executable(role: str, program: str) -> str:
    """`aether` means this interpreter's `aether` (the venv's), then whatever PATH finds."""
    if os.sep in program:
        return program
    beside_python = Path(sys.executable).parent / program
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    found = shutil.which(program)
    if found is None:
        raise TopologyError(
            f"role {role!r}: command {program!r} is neither beside {sys.executable} nor on PATH"
        )
    return found
