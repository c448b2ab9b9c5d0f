"""What a topology file may say, validated with pydantic.

The topology is the one place that describes the distributed mesh: which roles exist, on which port
each listens, how each is started, which roles it needs, and where its health and readiness live.
Everything else (start order, URLs handed to each role, compose and Kubernetes files checked by
the tests) is derived from it, so a mistake here must be caught with a message that names it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

RoleName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$")]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$")]
UrlPath = Annotated[str, StringConstraints(pattern=r"^/\S*$")]


class RoleSpec(BaseModel):
    """One role of the mesh, as started on one machine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    port: int = Field(ge=1, le=65535)
    command: list[str] = Field(min_length=1)
    depends_on: list[RoleName] = Field(default_factory=list)
    # The variable under which the roles that depend on this one find its base URL.
    url_env: EnvName | None = None
    # The variable that tells the role its own base URL, to advertise (e.g. in its agent card).
    public_url_env: EnvName | None = None
    health_path: UrlPath = "/health"
    ready_path: UrlPath = "/ready"
    environment: dict[EnvName, str] = Field(default_factory=dict)


class Topology(BaseModel):
    """Every role, plus the environment they all share."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    environment: dict[EnvName, str] = Field(default_factory=dict)
    roles: dict[RoleName, RoleSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Topology:
        _check_dependencies(self.roles)
        _check_ports(self.roles)
        _check_url_envs(self.roles)
        _check_cycles(self.roles)
        return self

    def role(self, name: str) -> RoleSpec:
        return self.roles[name]


def _check_dependencies(roles: dict[str, RoleSpec]) -> None:
    for name, spec in roles.items():
        for dependency in spec.depends_on:
            if dependency == name:
                raise ValueError(f"role {name!r} depends on itself")
            if dependency not in roles:
                known = ", ".join(sorted(roles))
                raise ValueError(
                    f"role {name!r} depends on unknown role {dependency!r} (known: {known})"
                )
        if len(set(spec.depends_on)) != len(spec.depends_on):
            raise ValueError(f"role {name!r} lists a dependency twice")


def _check_ports(roles: dict[str, RoleSpec]) -> None:
    owners: dict[int, str] = {}
    for name, spec in roles.items():
        if spec.port in owners:
            raise ValueError(f"port {spec.port} is used by both {owners[spec.port]!r} and {name!r}")
        owners[spec.port] = name


def _check_url_envs(roles: dict[str, RoleSpec]) -> None:
    owners: dict[str, str] = {}
    for name, spec in roles.items():
        if spec.url_env is None:
            continue
        if spec.url_env in owners:
            raise ValueError(
                f"url_env {spec.url_env} is used by both {owners[spec.url_env]!r} and {name!r}"
            )
        owners[spec.url_env] = name
    for name, spec in roles.items():
        for dependency in spec.depends_on:
            if roles[dependency].url_env is None:
                raise ValueError(
                    f"role {name!r} depends on {dependency!r}, which has no url_env to reach it by"
                )


def _check_cycles(roles: dict[str, RoleSpec]) -> None:
    """Depth-first search; a back edge is reported as the cycle it closes."""
    done: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in path:
            cycle = [*path[path.index(name) :], name]
            raise ValueError(f"dependency cycle: {' -> '.join(cycle)}")
        path.append(name)
        for dependency in roles[name].depends_on:
            visit(dependency)
        path.pop()
        done.add(name)

    for name in roles:
        visit(name)
