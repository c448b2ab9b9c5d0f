"""Assembles the agents of this process and the clients that reach every service.

The agents only ever see an AgentDirectory, so the same agents serve the monolith (every client in
process) and the distributed mesh (remote services behind network clients).
"""

from __future__ import annotations

from dataclasses import dataclass

from aether.agents.analysts.team import AnalystTeam
from aether.agents.architect import Architect
from aether.agents.contract import ServiceName
from aether.agents.orchestrator import DSOrchestrator
from aether.agents.planning import Clock
from aether.agents.router import Router
from aether.data.source import DataSource
from aether.llm.client import LLMClient
from aether.mesh.directory import StaticDirectory
from aether.mesh.inprocess import InProcessAgentClient
from aether.sandbox.runner import Runner


@dataclass(frozen=True)
class Mesh:
    directory: StaticDirectory
    router: Router


def build_local_mesh(
    *,
    source: DataSource,
    runner: Runner,
    llm: LLMClient | None,
    clock: Clock,
    timezone: str,
) -> Mesh:
    """Every role in this process, wired through in-process clients."""
    directory = StaticDirectory()
    team = AnalystTeam(source, runner, clock, timezone)
    orchestrator = DSOrchestrator(directory, clock, timezone)
    architect = Architect(directory, clock, timezone, llm)
    directory.register(ServiceName.DS_ANALYSTS, InProcessAgentClient(team))
    directory.register(ServiceName.DS_ORCHESTRATOR, InProcessAgentClient(orchestrator))
    directory.register(ServiceName.ARCHITECT, InProcessAgentClient(architect))
    return Mesh(directory=directory, router=Router(llm))
