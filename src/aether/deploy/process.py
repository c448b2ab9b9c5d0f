"""One role as a local process: started in its own process group, its output relayed line by line.

A process group per role lets the launcher stop everything a role started (worker processes,
sandboxed analyses), not just the role's main process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import IO

from aether.deploy.logs import LogSink
from aether.deploy.plan import RolePlan

TAIL_LINES = 40


class RoleProcess:
    """A started role; `on_exit` is called (from a watcher thread) when its main process ends."""

    def __init__(
        self,
        plan: RolePlan,
        sink: LogSink,
        *,
        cwd: str | None = None,
        on_exit: Callable[[RoleProcess], None] | None = None,
    ) -> None:
        self.plan = plan
        self._sink = sink
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._tail_lock = threading.Lock()
        self._on_exit = on_exit
        self._stopping = False
        self._stopped = False
        plan.data_dir.mkdir(parents=True, exist_ok=True)
        self._popen = subprocess.Popen(
            list(plan.argv),
            env=dict(plan.env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started_at = time.monotonic()
        self._reader = threading.Thread(
            target=self._relay, args=(self._popen.stdout,), name=f"log-{plan.name}", daemon=True
        )
        self._watcher = threading.Thread(target=self._watch, name=f"wait-{plan.name}", daemon=True)
        self._reader.start()
        self._watcher.start()

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    @property
    def stopping(self) -> bool:
        """True once the launcher asked this role to stop: its exit is then expected."""
        return self._stopping

    @property
    def stopped(self) -> bool:
        return self._stopped

    def tail(self, settle: float = 0.0) -> list[str]:
        """The last lines it wrote; `settle` waits that long for the output of an exited role."""
        if settle and self.returncode is not None:
            self._reader.join(timeout=settle)
        with self._tail_lock:
            return list(self._tail)

    def stop(self, grace: float) -> int:
        """SIGTERM the whole group, SIGKILL it after `grace` seconds; return the exit code."""
        self._stopping = True
        if self._stopped:
            return self._popen.wait()
        self._signal_group(signal.SIGTERM)
        try:
            code = self._popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self._sink.say(f"{self.name} did not stop within {grace:g}s; killing it")
            self._signal_group(signal.SIGKILL)
            code = self._popen.wait()
        # Workers left behind by a role that exited on its own still hold the group.
        self._signal_group(signal.SIGKILL)
        self._reader.join(timeout=5)
        self._stopped = True
        return code

    def kill(self) -> None:
        """SIGKILL the whole group now (a second Ctrl-C); `stop()` then only collects it."""
        self._stopping = True
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):  # the group is already empty
            os.killpg(self._popen.pid, signum)

    def _relay(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        with stream:
            for raw in iter(stream.readline, b""):
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                with self._tail_lock:
                    self._tail.append(text)
                self._sink.line(self.name, text)

    def _watch(self) -> None:
        self._popen.wait()
        if self._on_exit is not None:
            self._on_exit(self)


def describe_exit(code: int | None) -> str:
    """`exit code 3`, or `SIGTERM` for a process ended by a signal (negative Popen codes)."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"
