"""Which AgentClient reaches which service."""

from __future__ import annotations

from aether.agents.contract import AgentClient, ServiceName


class UnknownService(LookupError):
    pass


class StaticDirectory:
    """A fixed map from service to client, filled once when the mesh is assembled."""

    def __init__(self) -> None:
        self._clients: dict[ServiceName, AgentClient] = {}

    def register(self, service: ServiceName, client: AgentClient) -> None:
        self._clients[service] = client

    def client_for(self, service: ServiceName) -> AgentClient:
        try:
            return self._clients[service]
        except KeyError:
            raise UnknownService(f"no client registered for {service.value}") from None
