"""One output stream for every role, each line prefixed with the role that wrote it."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from typing import TextIO

LAUNCHER = "launcher"


class LogSink:
    """Writes `role | line` to one stream; thread-safe, since each role has its own reader thread.

    The prefix is padded to the longest role name so the lines of all roles align, as compose does.
    """

    def __init__(self, roles: Iterable[str], stream: TextIO | None = None) -> None:
        self._stream = stream
        self._width = max((len(name) for name in [*roles, LAUNCHER]), default=len(LAUNCHER))
        self._lock = threading.Lock()

    def line(self, role: str, text: str) -> None:
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(f"{role:<{self._width}} | {text}\n")
            stream.flush()

    def say(self, text: str) -> None:
        """A message of the launcher itself."""
        self.line(LAUNCHER, text)
