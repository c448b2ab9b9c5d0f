"""Waits for a started role to answer its readiness URL, watching that it is still alive."""

from __future__ import annotations

import threading
import time

import httpx

from aether.deploy.errors import LaunchInterrupted, NotReadyError
from aether.deploy.process import RoleProcess, describe_exit

FIRST_POLL_INTERVAL = 0.05
MAX_POLL_INTERVAL = 0.2
PROBE_TIMEOUT = 5.0


def wait_until_ready(
    process: RoleProcess, timeout: float, stop: threading.Event | None = None
) -> float:
    """Poll the role's ready URL until it answers 2xx; return the seconds it took.

    Raises NotReadyError (with the role's last log lines) if the process exits or `timeout`
    passes, and LaunchInterrupted if `stop` is set meanwhile.
    """
    stop = stop or threading.Event()
    deadline = time.monotonic() + timeout
    interval = FIRST_POLL_INTERVAL
    last_answer = "no answer yet"
    with httpx.Client(timeout=PROBE_TIMEOUT, trust_env=False) as client:
        while True:
            code = process.returncode
            if code is not None:
                raise NotReadyError(
                    process.name,
                    f"exited ({describe_exit(code)}) before it was ready",
                    process.tail(2.0),
                )
            try:
                response = client.get(process.plan.ready_url)
            except httpx.HTTPError as exc:
                last_answer = f"{type(exc).__name__}"
            else:
                if response.is_success:
                    return time.monotonic() - process.started_at
                last_answer = f"HTTP {response.status_code}: {response.text[:200]}"
            if time.monotonic() >= deadline:
                raise NotReadyError(
                    process.name,
                    f"was not ready at {process.plan.ready_url} after {timeout:g}s "
                    f"(last answer: {last_answer})",
                    process.tail(),
                )
            if stop.wait(interval):
                raise LaunchInterrupted(f"stopped while waiting for {process.name}")
            interval = min(interval * 2, MAX_POLL_INTERVAL)
