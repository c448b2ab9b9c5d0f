"""Several replicas of a role in the deployment plan: ports, names, URLs, data directories."""

from __future__ import annotations

import pytest

from aether.deploy import cli
from aether.deploy.errors import TopologyError
from aether.deploy.loader import load_topology
from aether.deploy.plan import LaunchOptions, replicas_without_shared_database, resolve

MESH = load_topology()


def test_one_replica_per_role_is_the_default_and_keeps_the_single_process_names() -> None:
    plan = resolve(MESH, LaunchOptions(environment={}))
    assert [process.name for process in plan.processes] == plan.start_order
    assert plan.replica_urls["ds-analysts"] == ["http://127.0.0.1:8003"]
    assert plan.roles["gateway"].env["DS_ANALYSTS_URL"] == "http://127.0.0.1:8003"
    assert plan.roles["ds-analysts"].data_dir.name == "ds-analysts"


def test_extra_replicas_take_the_ports_above_the_mesh_and_are_named_by_number() -> None:
    plan = resolve(MESH, LaunchOptions(environment={}, replicas={"gateway": 2, "ds-analysts": 2}))
    names = [(process.name, process.port) for process in plan.processes]
    assert names == [
        ("ds-analysts#1", 8003),
        ("ds-analysts#2", 8005),
        ("ds-orchestrator", 8002),
        ("architect", 8001),
        ("gateway#1", 8000),
        ("gateway#2", 8004),
    ]
    first, second = plan.replicas_of("ds-analysts")
    assert (first.role, first.replica, second.role, second.replica) == (
        "ds-analysts",
        1,
        "ds-analysts",
        2,
    )
    assert plan.roles["ds-analysts"] == first  # `roles` keeps the first replica
    assert plan.urls["ds-analysts"] == "http://127.0.0.1:8003"


def test_the_callers_of_a_replicated_role_get_every_replica_url_comma_separated() -> None:
    plan = resolve(MESH, LaunchOptions(environment={}, replicas={"ds-analysts": 3}))
    analysts = "http://127.0.0.1:8003,http://127.0.0.1:8004,http://127.0.0.1:8005"
    assert plan.roles["ds-orchestrator"].env["DS_ANALYSTS_URL"] == analysts
    assert plan.roles["gateway"].env["DS_ANALYSTS_URL"] == analysts
    assert plan.roles["gateway"].env["ARCHITECT_SERVICE_URL"] == "http://127.0.0.1:8001"


def test_each_replica_has_its_own_port_public_url_and_data_directory() -> None:
    plan = resolve(MESH, LaunchOptions(environment={}, replicas={"gateway": 2}))
    first, second = plan.replicas_of("gateway")
    assert (first.env["PORT"], second.env["PORT"]) == ("8000", "8004")
    assert first.env["GATEWAY_PUBLIC_URL"] == "http://127.0.0.1:8000"
    assert second.env["GATEWAY_PUBLIC_URL"] == "http://127.0.0.1:8004"
    assert second.ready_url == "http://127.0.0.1:8004/ready"
    assert (first.data_dir.name, second.data_dir.name) == ("gateway-1", "gateway-2")
    assert first.env["AETHER_DATA_DIR"] != second.env["AETHER_DATA_DIR"]
    assert first.env["SERVICE_TOKEN"] == second.env["SERVICE_TOKEN"] == plan.service_token
    assert first.argv == second.argv


def test_explicit_ports_per_replica_and_a_base_port_shift_both_work() -> None:
    plan = resolve(
        MESH,
        LaunchOptions(environment={}, replicas={"gateway": 2}, ports={"gateway": [9500, 9600]}),
    )
    assert plan.replica_urls["gateway"] == ["http://127.0.0.1:9500", "http://127.0.0.1:9600"]
    shifted = resolve(
        MESH, LaunchOptions(environment={}, replicas={"ds-analysts": 2}, base_port=9100)
    )
    assert [p.port for p in shifted.replicas_of("ds-analysts")] == [9103, 9104]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"replicas": {"nope": 2}}, "replicas given for unknown roles: nope"),
        ({"replicas": {"gateway": 0}}, "role 'gateway': 0 replicas; between 1 and 16"),
        ({"replicas": {"gateway": 17}}, "role 'gateway': 17 replicas"),
        (
            {"replicas": {"gateway": 2}, "ports": {"gateway": [9000]}},
            "role 'gateway': 1 ports given for 2 replicas",
        ),
        (
            {"replicas": {"gateway": 2}, "ports": {"gateway": [9000, 8001]}},
            "port 8001 is assigned to both 'gateway' and 'architect'",
        ),
    ],
)
def test_impossible_replica_requests_are_refused_with_a_reason(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(TopologyError, match=message):
        resolve(MESH, LaunchOptions(environment={}, **options))  # type: ignore[arg-type]


def test_the_cli_takes_replicas_per_role_and_shows_every_process(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["plan", "--replicas", "gateway=2", "--replicas", "ds-analysts=2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    processes = [line.split(":")[0] for line in lines if not line.startswith("stage")]
    assert processes == [
        "ds-analysts#1",
        "ds-analysts#2",
        "ds-orchestrator",
        "architect",
        "gateway#1",
        "gateway#2",
    ]
    assert any("gateway#2:" in line and "-> http://127.0.0.1:8004" in line for line in lines)


@pytest.mark.parametrize("value", ["gateway", "gateway=", "=2", "gateway=two"])
def test_the_cli_refuses_a_malformed_replica_count(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["plan", "--replicas", value])
    assert exited.value.code == 2
    assert "expected ROLE=N" in capsys.readouterr().err


def test_the_cli_names_an_unknown_role(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plan", "--replicas", "nope=2"]) == 2
    assert "replicas given for unknown roles: nope" in capsys.readouterr().err


def test_replicas_on_sqlite_are_named_as_sharing_nothing() -> None:
    plan = resolve(MESH, LaunchOptions(environment={}, replicas={"gateway": 2, "ds-analysts": 2}))
    assert replicas_without_shared_database(plan) == ["ds-analysts", "gateway"]
    shared = resolve(
        MESH,
        LaunchOptions(
            environment={"DATABASE_URL": "postgresql+asyncpg://u@db/aether"},
            replicas={"gateway": 2},
        ),
    )
    assert replicas_without_shared_database(shared) == []
    single = resolve(MESH, LaunchOptions(environment={}))
    assert replicas_without_shared_database(single) == []
