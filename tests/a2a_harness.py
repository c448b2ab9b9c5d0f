"""Starts real Aether services (agent services and gateways) on loopback ports inside a test.

Each service gets its own data directory and database, as separate containers would. The socket
is bound before the app is built, so a service's settings (and its agent card) name the port it
really listens on.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from aether.cli import build_app
from aether.config import Role, Settings, load_settings

STARTUP_TIMEOUT = 60.0
SERVICE_TOKEN = "test-service-token"


@dataclass
class RunningService:
    role: Role
    base_url: str
    settings: Settings
    server: uvicorn.Server
    thread: threading.Thread

    def http(self, token: str | None = SERVICE_TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60)

    def stop(self, *, force: bool = False) -> None:
        """Stops the server; `force` drops open streams instead of waiting for them."""
        self.server.force_exit = force
        self.server.should_exit = True
        self.thread.join(timeout=30)


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def running_service(role: Role, data_dir: Path, **overrides: object) -> Iterator[RunningService]:
    """`overrides` are Settings fields; the service URL of `role` is set to where it listens."""
    sock = _bound_socket()
    port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    own_url = {
        Role.GATEWAY: "gateway_public_url",
        Role.ARCHITECT: "architect_service_url",
        Role.DS_ORCHESTRATOR: "ds_orchestrator_url",
        Role.DS_ANALYSTS: "ds_analysts_url",
    }[role]
    settings = load_settings(
        **{
            "aether_data_dir": data_dir,
            "aether_service": role,
            "port": port,
            "service_token": SERVICE_TOKEN,
            "demo_days": 30,
            # These tests are about A2A: plain job processes make "the analysis is running" and
            # "it was killed" observable in /proc. gVisor containment has tests of its own.
            "sandbox": "process",
            own_url: base_url,
            **overrides,
        }
    )
    app: FastAPI = build_app(settings)
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        loop="asyncio",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"test-{role.value}", daemon=True
    )
    thread.start()
    service = RunningService(role, base_url, settings, server, thread)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"{role.value} exited during startup")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{role.value} did not start in time")
            time.sleep(0.01)
        yield service
    finally:
        service.stop()
        sock.close()


@dataclass
class DistributedMesh:
    analysts: RunningService
    orchestrator: RunningService
    architect: RunningService

    def service(self, role: Role) -> RunningService:
        return {
            Role.DS_ANALYSTS: self.analysts,
            Role.DS_ORCHESTRATOR: self.orchestrator,
            Role.ARCHITECT: self.architect,
        }[role]

    @property
    def urls(self) -> dict[str, object]:
        """The settings that point a process at these services."""
        return {
            "architect_service_url": self.architect.base_url,
            "ds_orchestrator_url": self.orchestrator.base_url,
            "ds_analysts_url": self.analysts.base_url,
        }


@contextmanager
def running_mesh(root: Path, **overrides: object) -> Iterator[DistributedMesh]:
    """The three agent services in distributed mode, started downstream first."""
    common = {"deployment_mode": "distributed", **overrides}
    with ExitStack() as stack:
        analysts = stack.enter_context(
            running_service(Role.DS_ANALYSTS, root / "ds-analysts", **common)
        )
        orchestrator = stack.enter_context(
            running_service(
                Role.DS_ORCHESTRATOR,
                root / "ds-orchestrator",
                ds_analysts_url=analysts.base_url,
                **common,
            )
        )
        architect = stack.enter_context(
            running_service(
                Role.ARCHITECT,
                root / "architect",
                ds_orchestrator_url=orchestrator.base_url,
                ds_analysts_url=analysts.base_url,
                **common,
            )
        )
        yield DistributedMesh(analysts, orchestrator, architect)


@contextmanager
def running_replicas(
    role: Role, root: Path, count: int = 2, **overrides: object
) -> Iterator[list[RunningService]]:
    """`count` replicas of one service, started at the same moment (each in its own thread, as
    separate processes would race); `overrides` usually name their shared `database_url`."""
    together = threading.Barrier(count)
    starting = [
        running_service(role, root / f"replica-{index}", **overrides) for index in range(count)
    ]

    def start(replica: AbstractContextManager[RunningService]) -> RunningService:
        together.wait()
        return replica.__enter__()

    with ExitStack() as stack:
        with ThreadPoolExecutor(count) as pool:
            futures = [pool.submit(start, replica) for replica in starting]
        for replica, future in zip(starting, futures, strict=True):
            if future.exception() is None:
                stack.push(replica.__exit__)
        yield [future.result() for future in futures]
