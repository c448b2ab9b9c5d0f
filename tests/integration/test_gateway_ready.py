"""Readiness tells a load balancer when the gateway cannot do its work."""

from pathlib import Path

from tests.gateway_harness import running_gateway
from tests.servers import free_port


def test_distributed_gateway_is_not_ready_without_its_architect(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    with (
        running_gateway(
            tmp_path, deployment_mode="distributed", architect_service_url=nobody
        ) as gateway,
        gateway.http() as http,
    ):
        response = http.get("/ready")
        assert http.get("/health").status_code == 200  # alive, just not ready
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["architect"].startswith("error:")
