"""compose.yaml and compose.distributed.yaml, checked against the topology and the settings.

No engine runs here, so the files are parsed and their contents checked: services, build args,
ports, environment, dependencies with health conditions, health checks and the gVisor runtime.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from aether.config import Settings
from aether.deploy.engine import image_name
from aether.deploy.loader import load_topology
from aether.deploy.plan import dependency_closure
from aether.gateway.draining import Drain

ROOT = Path(__file__).resolve().parents[2]
AGENTS = ("architect", "ds-orchestrator", "ds-analysts")
ROLES = ("gateway", *AGENTS)
TOPOLOGY = load_topology()
INTERPOLATION = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?:(?::?[-?])([^}]*))?\}")
PROBE_READY = ["CMD", "python", "-m", "aether.deploy.probe", "/ready"]


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
    return document


def merge(base: Any, override: Any) -> Any:
    """Compose's rule for what these files use: mappings merge key by key, the rest is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    return override


BASE = load("compose.yaml")
OVERRIDE = load("compose.distributed.yaml")
MERGED: dict[str, dict[str, Any]] = merge(BASE, OVERRIDE)["services"]


def documented_variables() -> set[str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def test_the_base_file_has_infrastructure_and_the_monolith_gateway() -> None:
    assert set(BASE["services"]) == {"postgres", "mlflow", "gateway"}
    gateway = BASE["services"]["gateway"]
    assert gateway["environment"]["DEPLOYMENT_MODE"] == "monolith"
    assert gateway["ports"] == ["${GATEWAY_PORT:-8000}:8000"]
    assert gateway["profiles"] == ["full"]
    assert BASE["networks"]["default"]["name"] == "aether-network"


def test_the_override_adds_the_three_agents_and_switches_the_gateway() -> None:
    assert set(OVERRIDE["services"]) == set(ROLES)
    gateway = MERGED["gateway"]["environment"]
    assert gateway["DEPLOYMENT_MODE"] == "distributed"
    assert gateway["ARCHITECT_SERVICE_URL"] == "http://architect:8000"
    assert gateway["DS_ORCHESTRATOR_URL"] == "http://ds-orchestrator:8000"
    assert gateway["DS_ANALYSTS_URL"] == "http://ds-analysts:8000"


@pytest.mark.parametrize("role", ROLES)
def test_every_role_is_built_from_the_one_containerfile(role: str) -> None:
    service = MERGED[role]
    assert service["build"] == {
        "context": ".",
        "dockerfile": "Containerfile.service",
        "args": {"AETHER_SERVICE": role},
    }
    assert service["image"] == image_name(role)
    assert service["profiles"] == ["full"]
    environment = service["environment"]
    assert environment["AETHER_SERVICE"] == role
    assert (environment["HOST"], environment["PORT"]) == ("0.0.0.0", "8000")
    assert environment["AETHER_DATA_DIR"] == "/data"
    assert f"{role}-data:/data" in service["volumes"]


@pytest.mark.parametrize("role", ROLES)
def test_host_ports_are_the_topologys_and_every_container_listens_on_8000(role: str) -> None:
    variable = role.upper().replace("-", "_") + "_PORT"
    assert MERGED[role]["ports"] == [f"${{{variable}:-{TOPOLOGY.roles[role].port}}}:8000"]


@pytest.mark.parametrize("role", AGENTS)
def test_agents_run_distributed_with_the_service_token_and_their_own_database(role: str) -> None:
    environment = MERGED[role]["environment"]
    assert environment["DEPLOYMENT_MODE"] == "distributed"
    assert environment["SERVICE_TOKEN"].startswith("${SERVICE_TOKEN:?")
    database = role.replace("-", "_")
    assert environment["DATABASE_URL"].endswith(f"@postgres:5432/aether_{database}")
    init = (ROOT / "infrastructure/postgres/init/01-databases.sql").read_text(encoding="utf-8")
    assert f"CREATE DATABASE aether_{database} OWNER aether;" in init


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_told_where_the_roles_it_needs_are(role: str) -> None:
    environment = MERGED[role]["environment"]
    for dependency in dependency_closure(TOPOLOGY, role):
        url_env = TOPOLOGY.roles[dependency].url_env
        assert url_env is not None
        assert environment[url_env] == f"http://{dependency}:8000"


@pytest.mark.parametrize("role", ROLES)
def test_start_order_follows_the_topology_with_health_conditions(role: str) -> None:
    depends_on = MERGED[role]["depends_on"]
    for dependency in TOPOLOGY.roles[role].depends_on:
        assert depends_on[dependency] == {"condition": "service_healthy"}
    assert depends_on["postgres"] == {"condition": "service_healthy"}
    for name, condition in depends_on.items():
        if condition["condition"] == "service_healthy":
            assert "healthcheck" in MERGED[name], f"{role} waits on {name}, which has no check"


@pytest.mark.parametrize("role", ROLES)
def test_every_role_is_healthy_only_when_ready(role: str) -> None:
    check = MERGED[role]["healthcheck"]
    assert check["test"] == PROBE_READY
    assert TOPOLOGY.roles[role].ready_path == "/ready"
    assert {"interval", "timeout", "retries", "start_period"} <= set(check)


def test_only_the_analysts_run_under_gvisor() -> None:
    assert MERGED["ds-analysts"]["runtime"] == "runsc"
    assert [name for name, service in MERGED.items() if "runtime" in service] == ["ds-analysts"]


def test_infrastructure_has_health_checks_and_volumes() -> None:
    postgres = MERGED["postgres"]
    assert postgres["healthcheck"]["test"] == ["CMD-SHELL", "pg_isready -U aether -d aether"]
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    init_mount = next(v for v in postgres["volumes"] if "docker-entrypoint-initdb.d" in v)
    assert (ROOT / init_mount.split(":")[0]).is_dir()
    mlflow = MERGED["mlflow"]
    assert "http://127.0.0.1:5000/health" in " ".join(mlflow["healthcheck"]["test"])
    assert "mlflow-data:/mlflow" in mlflow["volumes"]
    declared = set(BASE["volumes"]) | set(OVERRIDE["volumes"])
    for service in MERGED.values():
        for volume in service.get("volumes", []):
            name = volume.split(":")[0]
            assert name.startswith("./") or name in declared, f"undeclared volume {name}"


def test_every_variable_given_to_aether_is_a_setting_or_documented() -> None:
    documented = documented_variables()
    for role in ROLES:
        for name in MERGED[role]["environment"]:
            assert name.lower() in Settings.model_fields or name in documented, (role, name)


def test_every_substituted_variable_is_documented_in_the_env_example() -> None:
    text = (ROOT / "compose.yaml").read_text() + (ROOT / "compose.distributed.yaml").read_text()
    used = {match.group(1) for match in INTERPOLATION.finditer(text)}
    assert used - documented_variables() == set()


def test_required_secrets_fail_loudly_instead_of_defaulting() -> None:
    text = (ROOT / "compose.yaml").read_text() + (ROOT / "compose.distributed.yaml").read_text()
    for variable in ("API_KEYS", "SERVICE_TOKEN"):
        forms = {m.group(0) for m in INTERPOLATION.finditer(text) if m.group(1) == variable}
        required = {form for form in forms if form.startswith(f"${{{variable}:?")}
        assert required, variable
    assert "${SERVICE_TOKEN:?" in OVERRIDE["services"]["gateway"]["environment"]["SERVICE_TOKEN"]


def grace_of(service: dict[str, Any]) -> int:
    period = str(service["stop_grace_period"])
    assert re.fullmatch(r"\d+s", period), period
    return int(period[:-1])


def test_every_role_is_given_time_to_end_its_answers_before_it_is_killed() -> None:
    """Compose's default is 10 s; a gateway needs its drain grace plus the stop margin, an
    agent its grace plus a moment."""
    grace = Settings.model_fields["shutdown_grace_seconds"].default
    assert grace_of(MERGED["gateway"]) > Drain(grace).server_grace_seconds
    for role in ("architect", "ds-orchestrator", "ds-analysts"):
        assert grace_of(MERGED[role]) > grace, role
