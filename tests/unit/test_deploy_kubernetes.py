"""The Kubernetes manifests under infrastructure/k8s, checked against the topology and settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from aether.config import Settings
from aether.deploy.engine import image_name
from aether.deploy.loader import load_topology
from aether.deploy.plan import dependency_closure
from aether.gateway.draining import Drain

K8S = Path(__file__).resolve().parents[2] / "infrastructure" / "k8s"
TOPOLOGY = load_topology()


def documents(name: str) -> list[dict[str, Any]]:
    text = (K8S / name).read_text(encoding="utf-8")
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(name: str) -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in documents(name)}


CONFIG = by_kind("config.yaml")


def test_kustomization_applies_every_role_and_the_shared_config() -> None:
    (kustomization,) = documents("kustomization.yaml")
    expected = {"config.yaml", *(f"{role}.yaml" for role in TOPOLOGY.roles)}
    assert set(kustomization["resources"]) == expected
    assert "secret.example.yaml" not in kustomization["resources"]


@pytest.mark.parametrize("role", list(TOPOLOGY.roles))
def test_each_role_is_a_deployment_and_a_service_with_its_probes(role: str) -> None:
    manifests = by_kind(f"{role}.yaml")
    deployment, service = manifests["Deployment"], manifests["Service"]
    assert deployment["metadata"]["name"] == service["metadata"]["name"] == role
    pod = deployment["spec"]["template"]["spec"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels == service["spec"]["selector"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["image"] == image_name(role)
    assert container["ports"] == [{"name": "http", "containerPort": 8000}]
    env = {item["name"]: item for item in container["env"]}
    assert env["AETHER_SERVICE"]["value"] == role
    assert "secretKeyRef" in env["SERVICE_TOKEN"]["valueFrom"]
    assert "secretKeyRef" in env["DATABASE_URL"]["valueFrom"]
    spec = TOPOLOGY.roles[role]
    assert container["readinessProbe"]["httpGet"]["path"] == spec.ready_path
    assert container["livenessProbe"]["httpGet"]["path"] == spec.health_path
    assert service["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http"}]
    assert (pod.get("runtimeClassName") == "gvisor") == (role == "ds-analysts")


def test_the_shared_config_points_every_role_at_the_services() -> None:
    data = CONFIG["ConfigMap"]["data"]
    assert data["DEPLOYMENT_MODE"] == "distributed"
    for role in TOPOLOGY.roles:
        for dependency in dependency_closure(TOPOLOGY, role):
            url_env = TOPOLOGY.roles[dependency].url_env
            assert url_env is not None
            assert data[url_env] == f"http://{dependency}:8000"
    assert all(name.lower() in Settings.model_fields for name in data)
    assert CONFIG["RuntimeClass"]["handler"] == "runsc"


def test_the_secret_template_has_every_key_the_deployments_read() -> None:
    (secret,) = documents("secret.example.yaml")
    keys = set(secret["stringData"])
    for role in TOPOLOGY.roles:
        container = by_kind(f"{role}.yaml")["Deployment"]["spec"]["template"]["spec"]
        for item in container["containers"][0]["env"]:
            reference = item.get("valueFrom", {}).get("secretKeyRef")
            if reference:
                assert reference["name"] == secret["metadata"]["name"]
                assert reference["key"] in keys, (role, reference["key"])


def test_the_gateway_pods_get_time_to_end_their_answers_before_they_are_killed() -> None:
    pod = by_kind("gateway.yaml")["Deployment"]["spec"]["template"]["spec"]
    needed = Drain(Settings.model_fields["shutdown_grace_seconds"].default).server_grace_seconds
    assert pod["terminationGracePeriodSeconds"] > needed
