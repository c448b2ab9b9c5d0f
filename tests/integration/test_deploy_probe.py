"""The containers' health check (`python -m aether.deploy.probe`) against a real HTTP server."""

from __future__ import annotations

import subprocess
import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aether.deploy.probe import main, probe_url
from tests.servers import free_port, serve_in_thread


async def healthy(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def not_ready(request: Request) -> JSONResponse:
    return JSONResponse({"status": "not_ready"}, status_code=503)


APP = Starlette(routes=[Route("/health", healthy), Route("/ready", not_ready)])


def test_a_bare_path_is_probed_on_this_containers_port() -> None:
    assert probe_url("/health", {"PORT": "8003"}) == "http://127.0.0.1:8003/health"
    assert probe_url("/health", {}) == "http://127.0.0.1:8000/health"
    assert probe_url("http://architect:8000/ready", {}) == "http://architect:8000/ready"


def test_the_probe_passes_on_2xx_and_fails_otherwise() -> None:
    with serve_in_thread(APP) as base_url:
        assert main([f"{base_url}/health"]) == 0
        assert main([f"{base_url}/ready"]) == 1
        assert main([f"{base_url}/missing"]) == 1
    assert main([f"http://127.0.0.1:{free_port()}/health"]) == 1


def test_the_probe_runs_as_a_module_and_reads_port() -> None:
    with serve_in_thread(APP) as base_url:
        port = base_url.rsplit(":", 1)[1]
        done = subprocess.run(
            [sys.executable, "-m", "aether.deploy.probe"],
            env={"PORT": port},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        failed = subprocess.run(
            [sys.executable, "-m", "aether.deploy.probe", "/ready"],
            env={"PORT": port},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert failed.returncode == 1
    assert failed.stderr.strip() == f"probe http://127.0.0.1:{port}/ready: HTTP 503"
