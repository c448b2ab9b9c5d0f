"""Turns a topology into a deployment plan: start stages, ports, URLs, argv, environment per role.

The plan is pure data, computed before anything starts, so the start order and what each role is
told about the others can be checked without running a process.

A role may run as several replicas (processes of the same role on different ports). The roles
that depend on it are then given every replica's URL, comma-separated, under the role's url_env,
and pick another replica when one refuses connections.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aether.deploy.errors import TopologyError
from aether.deploy.model import Topology
from aether.deploy.ports import free_ports

SERVICE_TOKEN = "SERVICE_TOKEN"
DATABASE_URL = "DATABASE_URL"
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
MAX_REPLICAS = 16


@dataclass(frozen=True)
class LaunchOptions:
    """How to place the topology on this machine; the defaults are `make run-distributed`'s."""

    host: str = "127.0.0.1"
    # Explicit port per role (tests pass free ports); roles not named keep their (shifted) port.
    # A role with several replicas takes a sequence, one port per replica.
    ports: Mapping[str, int | Sequence[int]] = field(default_factory=dict)
    # Processes per role; roles not named run one. Extra replicas without explicit ports get
    # the ports just above the highest port of the mesh, in the topology's order.
    replicas: Mapping[str, int] = field(default_factory=dict)
    # Shifts every declared port so the lowest one becomes base_port (e.g. 9000 -> 9000..9003).
    base_port: int | None = None
    # Every replica of a role not named in `ports` listens on a port that is free right now
    # (tests and benchmarks, which run beside whatever else the machine serves).
    free_ports: bool = False
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
    """One process: a role's only replica, or one of several."""

    # `role` for a single replica; `role#2` for the second of several (log prefix, process key).
    name: str
    role: str
    replica: int
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
    # The first replica of each role (the only one, unless replicas were asked for).
    roles: Mapping[str, RolePlan]
    service_token: str
    host: str = "127.0.0.1"
    cwd: Path | None = None
    # Every replica of each role, first one first; empty means one replica per role.
    replicas: Mapping[str, tuple[RolePlan, ...]] = field(default_factory=dict)

    def replicas_of(self, role: str) -> tuple[RolePlan, ...]:
        return self.replicas.get(role) or (self.roles[role],)

    @property
    def processes(self) -> list[RolePlan]:
        """Every process to start, in start order."""
        return [replica for role in self.start_order for replica in self.replicas_of(role)]

    @property
    def replica_urls(self) -> dict[str, list[str]]:
        return {name: [r.base_url for r in self.replicas_of(name)] for name in self.roles}

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


def replica_counts(topology: Topology, options: LaunchOptions) -> dict[str, int]:
    unknown = sorted(set(options.replicas) - set(topology.roles))
    if unknown:
        raise TopologyError(f"replicas given for unknown roles: {', '.join(unknown)}")
    counts = {name: options.replicas.get(name, 1) for name in topology.roles}
    for name, count in counts.items():
        if not 1 <= count <= MAX_REPLICAS:
            raise TopologyError(
                f"role {name!r}: {count} replicas; between 1 and {MAX_REPLICAS} can be started"
            )
    return counts


def assign_ports(topology: Topology, options: LaunchOptions) -> dict[str, list[int]]:
    """The port of every replica of every role, first replica first."""
    unknown = sorted(set(options.ports) - set(topology.roles))
    if unknown:
        raise TopologyError(f"ports given for unknown roles: {', '.join(unknown)}")
    counts = replica_counts(topology, options)
    shift = 0
    if options.base_port is not None:
        shift = options.base_port - min(spec.port for spec in topology.roles.values())
    ports: dict[str, list[int]] = {}
    available = iter(free_ports(sum(counts.values())) if options.free_ports else ())
    for name, spec in topology.roles.items():
        default: int | list[int] = spec.port + shift
        if options.free_ports:
            default = [next(available) for _ in range(counts[name])]
        given = options.ports.get(name, default)
        ports[name] = [given] if isinstance(given, int) else list(given)
        if isinstance(given, int):
            continue
        if len(ports[name]) != counts[name]:
            raise TopologyError(
                f"role {name!r}: {len(ports[name])} ports given for {counts[name]} replicas"
            )
    next_free = max(port for role_ports in ports.values() for port in role_ports) + 1
    for name, count in counts.items():
        while len(ports[name]) < count:
            ports[name].append(next_free)
            next_free += 1
    owners: dict[int, str] = {}
    for name, role_ports in ports.items():
        for port in role_ports:
            if not 1 <= port <= 65535:
                raise TopologyError(f"role {name!r}: port {port} is out of range")
            if port in owners:
                raise TopologyError(
                    f"port {port} is assigned to both {owners[port]!r} and {name!r}"
                )
            owners[port] = name
    return ports


def replicas_without_shared_database(plan: DeploymentPlan) -> list[str]:
    """Roles run as several replicas on SQLite: each replica would have a database of its own
    (in its data directory), so they would share no conversations, runs or tasks."""
    return [
        name
        for name in plan.start_order
        if len(plan.replicas_of(name)) > 1 and not plan.roles[name].env.get(DATABASE_URL)
    ]


def instance_name(role: str, replica: int, count: int) -> str:
    """`role` when it runs alone, else `role#N`: what its log lines and its process are named."""
    return role if count == 1 else f"{role}#{replica}"


def resolve(topology: Topology, options: LaunchOptions | None = None) -> DeploymentPlan:
    options = options or LaunchOptions()
    base_env = dict(os.environ if options.environment is None else options.environment)
    token = options.service_token or base_env.get(SERVICE_TOKEN) or secrets.token_urlsafe(32)
    ports = assign_ports(topology, options)
    url_host = _url_host(options.host)
    urls = {
        name: [f"http://{url_host}:{port}" for port in role_ports]
        for name, role_ports in ports.items()
    }
    data_root = options.data_dir.resolve()
    replicas: dict[str, tuple[RolePlan, ...]] = {}
    for name, spec in topology.roles.items():
        shared = {**base_env, "PYTHONUNBUFFERED": "1", **topology.environment, **spec.environment}
        shared.update(options.extra_env)
        shared[SERVICE_TOKEN] = token
        for dependency in dependency_closure(topology, name):
            url_env = topology.roles[dependency].url_env
            if url_env is not None:  # the model guarantees it for every dependency
                shared[url_env] = ",".join(urls[dependency])
        argv = (_executable(name, spec.command[0]), *spec.command[1:])
        count = len(ports[name])
        plans = []
        for index, (port, url) in enumerate(zip(ports[name], urls[name], strict=True), start=1):
            instance = instance_name(name, index, count)
            # One data directory per process: SQLite files and demo data are never shared.
            data_dir = data_root / (name if count == 1 else f"{name}-{index}")
            env = {
                **shared,
                "HOST": options.host,
                "PORT": str(port),
                "AETHER_DATA_DIR": str(data_dir),
            }
            if spec.public_url_env is not None:
                env[spec.public_url_env] = url
            plans.append(
                RolePlan(
                    name=instance,
                    role=name,
                    replica=index,
                    argv=argv,
                    env=env,
                    port=port,
                    base_url=url,
                    health_url=url + spec.health_path,
                    ready_url=url + spec.ready_path,
                    data_dir=data_dir,
                )
            )
        replicas[name] = tuple(plans)
    stages = tuple(tuple(stage) for stage in start_stages(topology))
    return DeploymentPlan(
        name=topology.name,
        stages=stages,
        roles={name: plans[0] for name, plans in replicas.items()},
        service_token=token,
        host=options.host,
        cwd=options.cwd,
        replicas=replicas,
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
