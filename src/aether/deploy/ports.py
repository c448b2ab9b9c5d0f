"""Port helpers: free loopback ports for tests, and a check that a role's port is still free."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from contextlib import ExitStack

from aether.deploy.errors import PortInUseError


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports that were free a moment ago (all bound at once, then released)."""
    with ExitStack() as stack:
        sockets = [
            stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            for _ in range(count)
        ]
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def ensure_free(ports: Mapping[str, int], host: str) -> None:
    """Fail before starting anything if a port is taken.

    Without this, a role that cannot bind would exit while an unrelated server on the same port
    answers the readiness probe, and the launcher would wait on the wrong process.
    """
    bind_host = "" if host in {"0.0.0.0", "::"} else host
    for role, port in ports.items():
        family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((bind_host, port))
            except OSError as exc:
                raise PortInUseError(
                    f"port {port} for {role} on {host} is not available ({exc.strerror}); "
                    "stop whatever uses it or choose other ports (--base-port)"
                ) from None
