"""An architect service that is down: a 503 with Retry-After (streamed or not), never a hang; the
run is recorded as failed; `/ready` says so; and everything works again once it is back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aether.config import Role
from tests.a2a_harness import SERVICE_TOKEN, RunningService, running_service
from tests.fakes.tcp_proxy import TcpProxy, running_tcp_proxy
from tests.gateway_harness import RunningGateway, running_gateway
from tests.servers import free_port

BODY: dict[str, Any] = {
    "model": "aether-architect",
    "messages": [{"role": "user", "content": "hi"}],
}


def chat(
    gateway: RunningGateway, *, stream: bool = False, key: str | None = None
) -> httpx.Response:
    """The response's status, headers and whole body (a stream is read to its end)."""
    headers = {"Idempotency-Key": key} if key else {}
    with (
        gateway.http() as http,
        http.stream(
            "POST", "/api/v1/chat/completions", json={**BODY, "stream": stream}, headers=headers
        ) as response,
    ):
        response.read()
    return response


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert int(response.headers["retry-after"]) > 0
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("service_unavailable", "agent_unavailable")
    assert "architect" in error["message"]
    assert "127.0.0.1" not in error["message"]


def runs(gateway: RunningGateway) -> list[dict[str, Any]]:
    with gateway.http() as http:
        data: list[dict[str, Any]] = http.get("/api/v1/runs", params={"limit": 100}).json()["data"]
    return data


def test_an_unreachable_architect_is_a_503_streamed_or_not(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    with running_gateway(
        tmp_path, deployment_mode="distributed", architect_service_url=nobody
    ) as gateway:
        plain, streamed = chat(gateway), chat(gateway, stream=True)
        recorded = runs(gateway)

    assert_unavailable(plain)
    assert_unavailable(streamed)
    assert {plain.headers["x-run-id"], streamed.headers["x-run-id"]} == {r["id"] for r in recorded}
    assert {(r["status"], r["error"]) for r in recorded} == {
        ("failed", "The architect is unreachable.")
    }


@pytest.fixture
def architect(tmp_path: Path) -> Iterator[RunningService]:
    with running_service(
        Role.ARCHITECT, tmp_path / "architect", deployment_mode="distributed"
    ) as running:
        yield running


@pytest.fixture
def architect_proxy(architect: RunningService) -> Iterator[TcpProxy]:
    port = int(architect.base_url.rsplit(":", 1)[1])
    with running_tcp_proxy("127.0.0.1", port) as proxy:
        yield proxy


def test_the_gateway_recovers_when_the_architect_comes_back(
    tmp_path: Path, architect_proxy: TcpProxy
) -> None:
    with (
        running_gateway(
            tmp_path / "gateway",
            deployment_mode="distributed",
            architect_service_url=f"http://127.0.0.1:{architect_proxy.port}",
            service_token=SERVICE_TOKEN,
        ) as gateway,
        gateway.http() as http,
    ):
        assert chat(gateway).status_code == 200
        assert http.get("/ready").status_code == 200

        architect_proxy.cut()
        down = chat(gateway, key="retry-me")
        down_streamed = chat(gateway, stream=True)
        not_ready = http.get("/ready")

        architect_proxy.restore()
        ready = http.get("/ready")
        retried = chat(gateway, key="retry-me")
        streamed = chat(gateway, stream=True)

    assert_unavailable(down)
    assert_unavailable(down_streamed)
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["architect"].startswith("error:")
    assert not_ready.json()["checks"]["database"] == "ok"
    assert ready.status_code == 200, ready.text
    # The 503 released the key: the retry ran (a new run) instead of replaying the failure.
    assert retried.status_code == 200, retried.text
    assert retried.headers["x-run-id"] != down.headers["x-run-id"]
    assert retried.json()["choices"][0]["message"]["content"]
    assert streamed.status_code == 200
    assert streamed.text.rstrip().endswith("data: [DONE]")
