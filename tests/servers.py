"""Runs an ASGI app on a free loopback port for the length of a test, in a background thread.

The socket is bound before the server starts (port 0), so two tests never race for a port.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    """A port that was free a moment ago; for child processes that must bind it themselves."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_in_thread(
    app: ASGIApp, *, lifespan: Literal["on", "off", "auto"] = "on", name: str = "test-server"
) -> Iterator[str]:
    """Yields the base URL (`http://127.0.0.1:<port>`); stops the server on exit, also when the
    test fails."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan=lifespan,
        loop="asyncio",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    try:
        _wait_started(server, thread)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("test server thread exited during startup")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("test server did not start in time")
        time.sleep(0.005)
