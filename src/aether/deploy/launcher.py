"""Starts a deployment plan as local processes, stage by stage, and stops it in reverse.

Used by `python -m aether.deploy` and by the tests, as a context manager:

    with Deployment(plan) as mesh:      # every role is ready here
        mesh.urls["gateway"]            # its first replica; mesh.replica_urls["gateway"]: all
        mesh.replicas("gateway")        # the processes of every replica (e.g. to SIGKILL one)
        mesh.wait()                     # until a process dies or request_stop() is called

Any failure while starting (a role exits, is not ready in time, a stop is requested) stops the
roles that did start before the error propagates, so a caller never inherits half a mesh.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType

from aether.deploy.errors import NotReadyError
from aether.deploy.logs import LogSink
from aether.deploy.plan import DeploymentPlan, RolePlan
from aether.deploy.ports import ensure_free
from aether.deploy.process import RoleProcess, describe_exit
from aether.deploy.readiness import wait_until_ready

DEFAULT_READY_TIMEOUT = 90.0
DEFAULT_STOP_GRACE = 25.0
"""SIGTERM to SIGKILL: a gateway needs SHUTDOWN_GRACE_SECONDS (10) plus 10 s to end its answers."""


@dataclass(frozen=True)
class RoleExit:
    """A role whose main process ended without being asked to.

    `role` is the process's name: the role's, or `role#N` for one of several replicas.
    """

    role: str
    code: int


class Deployment:
    def __init__(
        self,
        plan: DeploymentPlan,
        *,
        sink: LogSink | None = None,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        stop_grace: float = DEFAULT_STOP_GRACE,
    ) -> None:
        self.plan = plan
        self.sink = sink or LogSink([process.name for process in plan.processes])
        self._ready_timeout = ready_timeout
        self._stop_grace = stop_grace
        self._processes: dict[str, RoleProcess] = {}
        self._exits: list[RoleExit] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop_requested = threading.Event()

    @property
    def urls(self) -> dict[str, str]:
        """The first replica of each role."""
        return self.plan.urls

    @property
    def replica_urls(self) -> dict[str, list[str]]:
        return self.plan.replica_urls

    @property
    def processes(self) -> dict[str, RoleProcess]:
        """Every started process by name (`role`, or `role#N` for replicas)."""
        return dict(self._processes)

    def survivors(self, exited: RoleExit) -> list[RoleProcess]:
        """The replicas of the exited process's role that still run."""
        role = self._processes[exited.role].plan.role
        return [process for process in self.replicas(role) if process.returncode is None]

    def replicas(self, role: str) -> list[RoleProcess]:
        """The started processes of `role`, first replica first."""
        names = [replica.name for replica in self.plan.replicas_of(role)]
        return [self._processes[name] for name in names if name in self._processes]

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested.is_set()

    def __enter__(self) -> Deployment:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start every stage and wait until each of its roles is ready; stop all on failure."""
        processes = self.plan.processes
        ensure_free({process.name: process.port for process in processes}, self.plan.host)
        try:
            for stage in self.plan.stages:
                started = [
                    self._start_process(replica)
                    for name in stage
                    for replica in self.plan.replicas_of(name)
                ]
                for process in started:
                    seconds = wait_until_ready(process, self._ready_timeout, self._stop_requested)
                    self._raise_if_any_died(waiting_for=process.name)
                    url = process.plan.base_url
                    self.sink.say(f"{process.name} ready at {url} ({seconds:.1f}s)")
        except BaseException:
            self.stop()
            raise

    def wait(self, timeout: float | None = None, *, seen: int = 0) -> RoleExit | None:
        """Block until a process exits on its own (returned), or a stop request / timeout (None).

        Exits are returned in the order they happened; `seen` skips the first ones, so a caller
        that carries on after a replica died can wait for the next exit.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._wake.clear()
            with self._lock:
                if len(self._exits) > seen:
                    return self._exits[seen]
            if self._stop_requested.is_set():
                return None
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            self._wake.wait(remaining)

    def request_stop(self) -> None:
        """Ask `wait()` and a start in progress to return; a second request kills at once.

        Thread-safe. A signal handler should call it from a new thread: Event.set() takes a lock
        that the interrupted main thread may be holding.
        """
        if self._stop_requested.is_set():
            for process in list(self._processes.values()):
                process.kill()
        self._stop_requested.set()
        self._wake.set()

    def stop(self) -> None:
        """Stop every started process, dependents first, each with SIGTERM then SIGKILL."""
        for stage in self.plan.stop_stages:
            for name in stage:
                for process in self.replicas(name):
                    if process.stopped:
                        continue
                    code = process.stop(self._stop_grace)
                    self.sink.say(f"{process.name} stopped ({describe_exit(code)})")

    def _start_process(self, plan: RolePlan) -> RoleProcess:
        self.sink.say(f"starting {plan.name} on port {plan.port}: {' '.join(plan.argv)}")
        cwd = None if self.plan.cwd is None else str(self.plan.cwd)
        process = RoleProcess(plan, self.sink, cwd=cwd, on_exit=self._exited)
        self._processes[plan.name] = process
        return process

    def _exited(self, process: RoleProcess) -> None:
        if process.stopping:
            return
        code = process.returncode
        with self._lock:
            self._exits.append(RoleExit(process.name, -1 if code is None else code))
        self.sink.say(f"{process.name} exited ({describe_exit(code)})")
        self._wake.set()

    def _raise_if_any_died(self, waiting_for: str) -> None:
        with self._lock:
            dead = self._exits[0] if self._exits else None
        if dead is not None:
            process = self._processes[dead.role]
            raise NotReadyError(
                dead.role,
                f"exited ({describe_exit(dead.code)}) while {waiting_for} was starting",
                process.tail(2.0),
            )
