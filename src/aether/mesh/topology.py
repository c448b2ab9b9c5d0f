"""Which agents a process hosts, and how it reaches the others.

The agents only ever see an AgentDirectory, so the same agents serve the monolith (every client in
process) and the distributed mesh (remote services behind A2A clients). The rule:

- `DEPLOYMENT_MODE=monolith`: every agent is in process, whatever the role;
- `DEPLOYMENT_MODE=distributed`: a process hosts only its role's agent (the gateway none), and
  every other service is an A2AAgentClient to its URL, or to the URLs of its replicas
  (`ARCHITECT_SERVICE_URL`, `DS_ORCHESTRATOR_URL`, `DS_ANALYSTS_URL`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aether.agents.analysts.team import AnalystTeam
from aether.agents.architect import Architect
from aether.agents.contract import Agent, AgentClient, ServiceName
from aether.agents.orchestrator import DSOrchestrator
from aether.agents.planning import Clock
from aether.agents.router import Router
from aether.analysis.tariff import Tariff
from aether.config import DeploymentMode, Role, Settings
from aether.data.source import DataSource
from aether.llm.client import LLMClient
from aether.mesh.a2a_client import A2AAgentClient
from aether.mesh.directory import StaticDirectory
from aether.mesh.inprocess import InProcessAgentClient
from aether.sandbox.runner import Runner

_DOWNSTREAM: dict[Role, ServiceName] = {
    Role.GATEWAY: ServiceName.ARCHITECT,
    Role.ARCHITECT: ServiceName.DS_ORCHESTRATOR,
    Role.DS_ORCHESTRATOR: ServiceName.DS_ANALYSTS,
}
_CALLS: dict[ServiceName, frozenset[ServiceName]] = {
    ServiceName.ARCHITECT: frozenset({ServiceName.DS_ORCHESTRATOR}),
    ServiceName.DS_ORCHESTRATOR: frozenset({ServiceName.DS_ANALYSTS}),
    ServiceName.DS_ANALYSTS: frozenset(),
}


@dataclass(frozen=True)
class Mesh:
    directory: StaticDirectory
    router: Router
    agents: Mapping[ServiceName, Agent] = field(default_factory=dict)
    """The agents hosted in this process, by the service they belong to."""


def hosted_services(role: Role, mode: DeploymentMode) -> frozenset[ServiceName]:
    if mode is DeploymentMode.MONOLITH:
        return frozenset(ServiceName)
    if role is Role.GATEWAY:
        return frozenset()
    return frozenset({ServiceName(role.value)})


def published_services(role: Role, mode: DeploymentMode) -> list[ServiceName]:
    """The services whose A2A endpoints this process serves: its own, or in the monolith's
    gateway every one (under `/a2a/{service}/`)."""
    if role is Role.GATEWAY:
        return list(ServiceName) if mode is DeploymentMode.MONOLITH else []
    return [ServiceName(role.value)]


def remote_services(role: Role, mode: DeploymentMode) -> frozenset[ServiceName]:
    """The services this process calls over A2A: for the gateway every one it does not host
    (a request may name any agent), for an agent service those its agent calls."""
    hosted = hosted_services(role, mode)
    if role is Role.GATEWAY:
        return frozenset(ServiceName) - hosted
    called = frozenset(callee for service in hosted for callee in _CALLS[service])
    return called - hosted


def remote_downstream(role: Role, mode: DeploymentMode) -> ServiceName | None:
    """The next service this role calls over the network, if it calls one."""
    downstream = _DOWNSTREAM.get(role)
    if downstream is None or downstream in hosted_services(role, mode):
        return None
    return downstream


def remote_client(settings: Settings, service: ServiceName) -> A2AAgentClient:
    return A2AAgentClient(
        settings.service_urls(Role(service.value)),
        settings.outbound_token,
        settings.a2a_timeout_seconds,
        connect_retries=settings.a2a_connect_retries,
    )


def build_mesh(
    *,
    hosted: frozenset[ServiceName],
    remote: Mapping[ServiceName, AgentClient],
    source: DataSource | None,
    runner: Runner | None,
    llm: LLMClient | None,
    clock: Clock,
    timezone: str,
    tariff: Tariff | None = None,
) -> Mesh:
    """The hosted agents behind in-process clients, every other service behind `remote`."""
    directory = StaticDirectory()
    for service, client in remote.items():
        directory.register(service, client)
    agents: dict[ServiceName, Agent] = {}
    if ServiceName.DS_ANALYSTS in hosted:
        if source is None or runner is None:
            raise ValueError("hosting the ds-analysts needs a data source and a sandbox runner")
        agents[ServiceName.DS_ANALYSTS] = AnalystTeam(source, runner, clock, timezone, tariff, llm)
    if ServiceName.DS_ORCHESTRATOR in hosted:
        orchestrator = DSOrchestrator(directory, clock, timezone, tariff=tariff)
        agents[ServiceName.DS_ORCHESTRATOR] = orchestrator
    if ServiceName.ARCHITECT in hosted:
        agents[ServiceName.ARCHITECT] = Architect(directory, clock, timezone, llm, tariff)
    for service, agent in agents.items():
        directory.register(service, InProcessAgentClient(agent))
    return Mesh(directory=directory, router=Router(llm), agents=agents)


def build_local_mesh(
    *,
    source: DataSource,
    runner: Runner,
    llm: LLMClient | None,
    clock: Clock,
    timezone: str,
    tariff: Tariff | None = None,
) -> Mesh:
    """Every role in this process, wired through in-process clients."""
    return build_mesh(
        hosted=frozenset(ServiceName),
        remote={},
        source=source,
        runner=runner,
        llm=llm,
        clock=clock,
        timezone=timezone,
        tariff=tariff,
    )
