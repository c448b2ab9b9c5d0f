"""Which agents a process hosts, which it calls over A2A, and the settings that decide it."""

from __future__ import annotations

import pytest

from aether.agents.contract import ServiceName
from aether.config import DeploymentMode, Role, SettingsError, load_settings
from aether.mesh.topology import (
    hosted_services,
    published_services,
    remote_downstream,
    remote_services,
)

MONO, DIST = DeploymentMode.MONOLITH, DeploymentMode.DISTRIBUTED
ALL = frozenset(ServiceName)


@pytest.mark.parametrize("role", list(Role))
def test_the_monolith_hosts_every_agent_and_calls_nothing_remote(role: Role) -> None:
    assert hosted_services(role, MONO) == ALL
    assert remote_services(role, MONO) == frozenset()
    assert remote_downstream(role, MONO) is None


@pytest.mark.parametrize(
    ("role", "hosted", "remote", "downstream"),
    [
        (Role.GATEWAY, set(), set(ServiceName), ServiceName.ARCHITECT),
        (
            Role.ARCHITECT,
            {ServiceName.ARCHITECT},
            {ServiceName.DS_ORCHESTRATOR},
            ServiceName.DS_ORCHESTRATOR,
        ),
        (
            Role.DS_ORCHESTRATOR,
            {ServiceName.DS_ORCHESTRATOR},
            {ServiceName.DS_ANALYSTS},
            ServiceName.DS_ANALYSTS,
        ),
        (Role.DS_ANALYSTS, {ServiceName.DS_ANALYSTS}, set(), None),
    ],
)
def test_a_distributed_process_hosts_its_role_and_calls_the_rest_over_a2a(
    role: Role, hosted: set[ServiceName], remote: set[ServiceName], downstream: ServiceName | None
) -> None:
    assert hosted_services(role, DIST) == hosted
    assert remote_services(role, DIST) == remote
    assert remote_downstream(role, DIST) == downstream


def test_the_monolith_gateway_publishes_every_agent_and_services_their_own() -> None:
    assert published_services(Role.GATEWAY, MONO) == list(ServiceName)
    assert published_services(Role.GATEWAY, DIST) == []
    assert published_services(Role.DS_ANALYSTS, DIST) == [ServiceName.DS_ANALYSTS]


@pytest.mark.parametrize(
    ("role", "port"),
    [
        (Role.GATEWAY, 8000),
        (Role.ARCHITECT, 8001),
        (Role.DS_ORCHESTRATOR, 8002),
        (Role.DS_ANALYSTS, 8003),
    ],
)
def test_each_role_has_its_default_port_and_urls(
    role: Role, port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PORT", raising=False)
    settings = load_settings(aether_service=role)
    assert settings.port == port
    assert settings.public_url(role) == f"http://localhost:{port}"
    assert load_settings(aether_service=role, port=9999).port == 9999


def test_public_urls_override_what_the_cards_advertise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHITECT_SERVICE_URL", "http://architect:8000")
    monkeypatch.setenv("ARCHITECT_PUBLIC_URL", "")
    settings = load_settings()
    assert settings.service_url(Role.ARCHITECT) == "http://architect:8000"
    assert settings.public_url(Role.ARCHITECT) == "http://architect:8000"
    monkeypatch.setenv("ARCHITECT_PUBLIC_URL", "https://aether.example.org/architect/")
    assert load_settings().public_url(Role.ARCHITECT) == "https://aether.example.org/architect"


def test_callers_send_the_service_token_or_else_the_first_api_key() -> None:
    assert load_settings(service_token="s", api_keys=["k"]).outbound_token == "s"
    assert load_settings(api_keys=["k1", "k2"]).outbound_token == "k1"
    assert load_settings(service_token="s", api_keys=["k"]).service_credentials == ["s", "k"]
    assert load_settings().outbound_token is None


def test_an_agent_service_on_a_public_address_needs_a_credential() -> None:
    with pytest.raises(SettingsError, match="SERVICE_TOKEN"):
        load_settings(aether_service=Role.ARCHITECT, host="0.0.0.0")
    assert load_settings(aether_service=Role.ARCHITECT, host="0.0.0.0", service_token="t")
    with pytest.raises(SettingsError, match="API_KEYS"):
        load_settings(host="0.0.0.0", service_token="t")
