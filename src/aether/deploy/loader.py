"""Reads a topology file (the packaged one by default) and validates it into a `Topology`."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from aether.deploy.errors import TopologyError
from aether.deploy.model import Topology

PACKAGED_TOPOLOGY = "topology.yaml"


def load_topology(path: Path | None = None) -> Topology:
    """The topology at `path`, or Aether's own mesh when `path` is None."""
    if path is None:
        source = "aether/deploy/topology.yaml"
        text = resources.files("aether.deploy").joinpath(PACKAGED_TOPOLOGY).read_text("utf-8")
    else:
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TopologyError(f"{source}: cannot read: {exc.strerror}") from None
    return parse_topology(text, source)


def parse_topology(text: str, source: str = "<topology>") -> Topology:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TopologyError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise TopologyError(f"{source}: expected a mapping with 'name' and 'roles'")
    try:
        return Topology.model_validate(data)
    except ValidationError as exc:
        raise TopologyError(f"{source}: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    """One line per problem, each with the path into the file (e.g. roles.architect.port)."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)
