"""`docker-compose config` on the two compose files: the compose tool accepts and merges them.

Debian's docker-compose validates and merges without a container engine. .ci/run installs it;
elsewhere the tests skip when it is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = shutil.which("docker-compose")
pytestmark = pytest.mark.skipif(
    COMPOSE is None, reason="docker-compose is not installed (apt-get install docker-compose)"
)
FILES = ["-f", "compose.yaml", "-f", "compose.distributed.yaml"]


def compose_config(env: dict[str, str], *files: str) -> subprocess.CompletedProcess[str]:
    assert COMPOSE is not None
    clean = {k: v for k, v in os.environ.items() if k not in {"API_KEYS", "SERVICE_TOKEN"}}
    return subprocess.run(
        [COMPOSE, "-p", "aether", *(files or FILES), "--profile", "full", "config"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_distributed_files_validate_and_merge() -> None:
    done = compose_config({"API_KEYS": "key", "SERVICE_TOKEN": "token"})
    assert done.returncode == 0, done.stderr
    merged: dict[str, Any] = yaml.safe_load(done.stdout)
    services = merged["services"]
    assert set(services) == {
        "postgres",
        "mlflow",
        "gateway",
        "architect",
        "ds-orchestrator",
        "ds-analysts",
    }
    gateway = services["gateway"]
    assert gateway["environment"]["DEPLOYMENT_MODE"] == "distributed"
    assert gateway["environment"]["SERVICE_TOKEN"] == "token"
    assert gateway["environment"]["API_KEYS"] == "key"
    assert set(gateway["depends_on"]) == {"postgres", "mlflow", "architect"}
    assert services["ds-analysts"]["runtime"] == "runsc"
    roles = {"gateway": 8000, "architect": 8001, "ds-orchestrator": 8002, "ds-analysts": 8003}
    for role, port in roles.items():
        assert services[role]["ports"] == [{"published": port, "target": 8000}]


def test_the_base_file_alone_is_the_monolith() -> None:
    done = compose_config({"API_KEYS": "key"}, "-f", "compose.yaml")
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert services["gateway"]["environment"]["DEPLOYMENT_MODE"] == "monolith"


def test_missing_secrets_stop_compose_with_a_message() -> None:
    done = compose_config({"API_KEYS": "key"})
    assert done.returncode != 0
    assert "set SERVICE_TOKEN in .env" in done.stderr
    done = compose_config({"SERVICE_TOKEN": "token"})
    assert done.returncode != 0
    assert "set API_KEYS in .env" in done.stderr
