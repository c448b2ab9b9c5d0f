"""The topology file, its validation, and the plan derived from it (no process is started)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aether.config import DEFAULT_PORTS, Role, Settings
from aether.deploy.errors import TopologyError
from aether.deploy.loader import load_topology, parse_topology
from aether.deploy.model import Topology
from aether.deploy.plan import LaunchOptions, dependency_closure, resolve, start_stages

ROLES = ("gateway", "architect", "ds-orchestrator", "ds-analysts")


def topology(roles: str, extra: str = "") -> Topology:
    return parse_topology(f"name: t\n{extra}roles:\n{roles}")


def role(name: str, port: int, deps: str = "[]", url_env: str | None = None) -> str:
    env = f", url_env: {url_env}" if url_env else f", url_env: {name.upper()}_URL"
    return f"  {name}: {{port: {port}, command: [./x], depends_on: {deps}{env}}}\n"


def test_aethers_topology_has_the_four_roles_on_8000_to_8003() -> None:
    mesh = load_topology()
    assert tuple(mesh.roles) == ROLES
    assert {name: spec.port for name, spec in mesh.roles.items()} == {
        "gateway": 8000,
        "architect": 8001,
        "ds-orchestrator": 8002,
        "ds-analysts": 8003,
    }
    for name, spec in mesh.roles.items():
        assert spec.command == ["aether", "serve", "--service", name]
        assert (spec.health_path, spec.ready_path) == ("/health", "/ready")
    assert mesh.environment["DEPLOYMENT_MODE"] == "distributed"
    assert {spec.url_env for spec in mesh.roles.values()} == {
        None,
        "ARCHITECT_SERVICE_URL",
        "DS_ORCHESTRATOR_URL",
        "DS_ANALYSTS_URL",
    }


def test_aethers_mesh_starts_analysts_first_and_stops_the_gateway_first() -> None:
    plan = resolve(load_topology(), LaunchOptions(environment={}))
    assert plan.start_order == ["ds-analysts", "ds-orchestrator", "architect", "gateway"]
    assert [stage[0] for stage in plan.stop_stages] == list(ROLES)


def test_the_gateway_knows_every_agent_and_each_agent_only_what_is_downstream() -> None:
    plan = resolve(load_topology(), LaunchOptions(environment={}))
    gateway = plan.roles["gateway"].env
    assert gateway["ARCHITECT_SERVICE_URL"] == "http://127.0.0.1:8001"
    assert gateway["DS_ORCHESTRATOR_URL"] == "http://127.0.0.1:8002"
    assert gateway["DS_ANALYSTS_URL"] == "http://127.0.0.1:8003"
    architect = plan.roles["architect"].env
    assert "ARCHITECT_SERVICE_URL" not in architect
    assert architect["DS_ORCHESTRATOR_URL"] == "http://127.0.0.1:8002"
    assert architect["ARCHITECT_PUBLIC_URL"] == "http://127.0.0.1:8001"  # for its agent card
    analysts = plan.roles["ds-analysts"].env
    assert [key for key in analysts if key.endswith("_URL")] == ["DS_ANALYSTS_PUBLIC_URL"]
    assert gateway["GATEWAY_PUBLIC_URL"] == "http://127.0.0.1:8000"
    for name, spec in plan.roles.items():
        assert spec.env["DEPLOYMENT_MODE"] == "distributed"
        assert spec.env["PORT"] == str(spec.port)
        assert spec.env["HOST"] == "127.0.0.1"
        assert spec.env["SERVICE_TOKEN"] == plan.service_token
        assert spec.env["AETHER_DATA_DIR"].endswith(f"distributed/{name}")
        assert spec.argv[0] == str(Path(sys.executable).parent / "aether")


def test_stages_group_independent_roles_and_keep_file_order() -> None:
    mesh = topology(
        role("hub", 9000, "[b, a]", "HUB_URL")
        + role("b", 9001, "[c]")
        + role("a", 9002, "[c]")
        + role("c", 9003)
    )
    assert start_stages(mesh) == [["c"], ["b", "a"], ["hub"]]
    assert dependency_closure(mesh, "hub") == ["b", "a", "c"]


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        (role("a", 1, "[ghost]"), "role 'a' depends on unknown role 'ghost' (known: a)"),
        (role("a", 1, "[a]"), "role 'a' depends on itself"),
        (role("a", 1) + role("b", 1), "port 1 is used by both 'a' and 'b'"),
        (
            role("a", 1, "[b]") + role("b", 2, "[c]") + role("c", 3, "[a]"),
            "dependency cycle: a -> b -> c -> a",
        ),
        (
            role("a", 1, "[b]") + "  b: {port: 2, command: [x]}\n",
            "role 'a' depends on 'b', which has no url_env to reach it by",
        ),
        (role("a", 1, url_env="X_URL") + role("b", 2, url_env="X_URL"), "url_env X_URL is used"),
        ("  a: {port: 70000, command: [x]}\n", "roles.a.port: Input should be less than"),
        ("  a: {port: 1, command: []}\n", "roles.a.command: List should have at least 1 item"),
        ("  a: {port: 1, command: [x], replicas: 2}\n", "roles.a.replicas: Extra inputs"),
        ("  Bad_Name: {port: 1, command: [x]}\n", "roles.Bad_Name.[key]: String should match"),
        ("  a: {port: 1, command: [x], ready_path: ready}\n", "roles.a.ready_path: String"),
    ],
)
def test_an_inconsistent_topology_is_refused_with_a_clear_reason(roles: str, message: str) -> None:
    with pytest.raises(TopologyError) as caught:
        topology(roles)
    assert str(caught.value).startswith("<topology>: ")
    assert message in str(caught.value)


def test_a_file_that_is_not_a_topology_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="not valid YAML"):
        parse_topology("roles: [")
    with pytest.raises(TopologyError, match="expected a mapping"):
        parse_topology("- a\n- b\n")
    with pytest.raises(TopologyError, match="roles: Field required"):
        parse_topology("name: x\n")
    missing = tmp_path / "missing.yaml"
    with pytest.raises(TopologyError, match=f"{missing}: cannot read: No such file"):
        load_topology(missing)


def test_ports_shift_from_a_base_port_or_are_given_per_role() -> None:
    mesh = load_topology()
    shifted = resolve(mesh, LaunchOptions(base_port=9100, environment={}))
    assert shifted.urls == {
        "gateway": "http://127.0.0.1:9100",
        "architect": "http://127.0.0.1:9101",
        "ds-orchestrator": "http://127.0.0.1:9102",
        "ds-analysts": "http://127.0.0.1:9103",
    }
    assert shifted.roles["gateway"].env["ARCHITECT_SERVICE_URL"] == "http://127.0.0.1:9101"
    given = resolve(mesh, LaunchOptions(ports={"architect": 12345}, environment={}))
    assert given.roles["architect"].ready_url == "http://127.0.0.1:12345/ready"
    assert given.roles["gateway"].port == 8000
    with pytest.raises(TopologyError, match="port 8000 is assigned to both 'gateway' and"):
        resolve(mesh, LaunchOptions(ports={"architect": 8000}, environment={}))
    with pytest.raises(TopologyError, match="ports given for unknown roles: nope"):
        resolve(mesh, LaunchOptions(ports={"nope": 1}, environment={}))
    with pytest.raises(TopologyError, match="port 65536 is out of range"):
        resolve(mesh, LaunchOptions(base_port=65533, environment={}))


def test_the_service_token_is_kept_from_the_environment_or_generated_once_per_run() -> None:
    mesh = load_topology()
    kept = resolve(mesh, LaunchOptions(environment={"SERVICE_TOKEN": "s3cret"}))
    assert {spec.env["SERVICE_TOKEN"] for spec in kept.roles.values()} == {"s3cret"}
    first = resolve(mesh, LaunchOptions(environment={}))
    second = resolve(mesh, LaunchOptions(environment={}))
    assert first.service_token != second.service_token


def test_launcher_settings_win_over_the_inherited_environment() -> None:
    inherited = {"DEPLOYMENT_MODE": "monolith", "PORT": "1", "KEEP": "me", "LLM_MODEL": "a"}
    plan = resolve(
        load_topology(), LaunchOptions(environment=inherited, extra_env={"LLM_MODEL": "b"})
    )
    env = plan.roles["architect"].env
    assert (env["DEPLOYMENT_MODE"], env["PORT"], env["KEEP"], env["LLM_MODEL"]) == (
        "distributed",
        "8001",
        "me",
        "b",
    )


def test_a_wildcard_bind_is_reached_on_loopback_and_a_public_url_can_be_handed_out() -> None:
    mesh = topology(
        role("a", 1, "[b]") + "  b: {port: 2, command: [./x], url_env: B_URL, public_url_env: "
        "PUBLIC_URL}\n"
    )
    plan = resolve(mesh, LaunchOptions(host="0.0.0.0", environment={}))
    assert plan.roles["a"].env["HOST"] == "0.0.0.0"
    assert plan.roles["a"].env["B_URL"] == "http://127.0.0.1:2"
    assert plan.roles["b"].env["PUBLIC_URL"] == "http://127.0.0.1:2"
    ipv6 = resolve(mesh, LaunchOptions(host="::1", environment={}))
    assert ipv6.urls["a"] == "http://[::1]:1"


def test_a_command_that_cannot_be_found_is_a_topology_error() -> None:
    mesh = topology("  a: {port: 1, command: [no-such-program-here]}\n")
    with pytest.raises(TopologyError, match="command 'no-such-program-here' is neither beside"):
        resolve(mesh, LaunchOptions(environment={}))


def test_the_topology_speaks_the_settings_language() -> None:
    """Roles, default ports and every variable the launcher sets are what Settings reads."""
    mesh = load_topology()
    assert {name: spec.port for name, spec in mesh.roles.items()} == {
        role.value: port for role, port in DEFAULT_PORTS.items()
    }
    assert set(mesh.roles) == {role.value for role in Role}
    variables = {"HOST", "PORT", "SERVICE_TOKEN", "AETHER_DATA_DIR", *mesh.environment}
    for spec in mesh.roles.values():
        variables |= {name for name in (spec.url_env, spec.public_url_env) if name}
        variables |= set(spec.environment)
    unknown = sorted(name for name in variables if name.lower() not in Settings.model_fields)
    assert unknown == []
