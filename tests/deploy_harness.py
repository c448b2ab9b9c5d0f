"""Helpers for the launcher's tests: a three-role fake mesh on free ports, and polling."""

from __future__ import annotations

import io
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TextIO, cast

import yaml

from aether.deploy.logs import LogSink
from aether.deploy.ports import free_ports

FAKE_ROLE = Path(__file__).parent / "fakes" / "deploy_role.py"
# front -> middle -> back, as gateway -> architect -> ... in the real topology.
FAKE_CHAIN = ("front", "middle", "back")


def write_fake_topology(
    directory: Path, extra_args: Mapping[str, Sequence[str]] | None = None
) -> Path:
    """A topology of fake roles on free ports; each refuses to start before its dependencies."""
    extra = extra_args or {}
    front, middle, back = free_ports(3)
    roles = {
        "front": {
            "port": front,
            "command": _command("front", ["MIDDLE_URL", "BACK_URL"], extra.get("front", ())),
            "depends_on": ["middle"],
        },
        "middle": {
            "port": middle,
            "command": _command("middle", ["BACK_URL"], extra.get("middle", ())),
            "depends_on": ["back"],
            "url_env": "MIDDLE_URL",
        },
        "back": {
            "port": back,
            "command": _command("back", [], extra.get("back", ())),
            "url_env": "BACK_URL",
            "environment": {"ROLE_NOTE": "from-topology"},
        },
    }
    document = {"name": "fake", "environment": {"DEPLOYMENT_MODE": "distributed"}, "roles": roles}
    path = directory / "topology.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _command(name: str, needs: list[str], extra: Sequence[str]) -> list[str]:
    needs_args = ["--needs", *needs] if needs else []
    return [sys.executable, str(FAKE_ROLE), "--name", name, *needs_args, *extra]


class CapturedLog:
    """A LogSink whose output the test can read while the roles write to it."""

    def __init__(self, roles: Sequence[str]) -> None:
        self._buffer = io.StringIO()
        self._lock = threading.Lock()
        writer = _LockedWriter(self._buffer, self._lock)
        self.sink = LogSink(roles, stream=cast(TextIO, writer))

    @property
    def text(self) -> str:
        with self._lock:
            return self._buffer.getvalue()

    def lines(self) -> list[str]:
        return self.text.splitlines()


class _LockedWriter(io.TextIOBase):
    def __init__(self, target: io.StringIO, lock: threading.Lock) -> None:
        self._target = target
        self._lock = lock

    def write(self, text: str) -> int:
        with self._lock:
            return self._target.write(text)


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Poll `condition` until it holds; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    interval = 0.01
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 2, 0.2)
