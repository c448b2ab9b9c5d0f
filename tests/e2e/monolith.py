"""Starts `aether serve` as a real process, the way `make run` does, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.servers import free_port

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


@dataclass(frozen=True)
class RunningAether:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def aether_process(data_dir: Path, **env: str) -> Iterator[str]:
    """Yields the base URL once `/ready` answers; SIGTERM on exit (SIGKILL if it hangs)."""
    with aether_server(data_dir, **env) as running:
        yield running.url


@contextmanager
def aether_server(data_dir: Path, **env: str) -> Iterator[RunningAether]:
    """`aether_process` with the process at hand, for a test that stops it itself."""
    port = free_port()
    environment = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "AETHER_DATA_DIR": str(data_dir),
        **env,
    }
    log_path = data_dir / "server.log"
    log = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "aether.cli", "serve"],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=data_dir,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, base_url, log_path)
        yield RunningAether(base_url, process, log_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"aether exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"aether was not ready in {READY_TIMEOUT} s:\n{log.read_text()}")
