"""The `runsc` command line, as the runner uses it: start a container from a bundle, kill it,
delete it, list what is left. Every command names the runner's own state directory, so
containers of other runners (or other programs) are never touched.

As root, runsc runs in its normal mode: the sandbox drops to an unprivileged user in its own
namespaces and may get cgroup limits. As any other user it needs `--rootless`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aether.sandbox.jobs import SandboxUnavailable

CONTROL_TIMEOUT_SECONDS: Final = 10.0
"""Longest a kill, delete or list may take before the runner gives up on it."""


class RunscError(Exception):
    """A control command (kill, delete, list) failed; the message holds runsc's own words."""


@dataclass(frozen=True)
class Runsc:
    binary: str
    state_dir: Path
    rootless: bool

    @classmethod
    def locate(cls, binary: str, state_dir: Path) -> Runsc:
        """SandboxUnavailable when `binary` is neither a path nor a name on PATH."""
        found = shutil.which(binary)
        if found is None:
            raise SandboxUnavailable(f"{binary} not found on PATH (install the runsc package)")
        return cls(binary=found, state_dir=state_dir, rootless=os.geteuid() != 0)

    def command(self, *arguments: str) -> list[str]:
        flags = [f"--root={self.state_dir}", "--network=none"]
        if self.rootless:
            flags.append("--rootless")
        return [self.binary, *flags, *arguments]

    async def start(self, container_id: str, bundle: Path, log: Path) -> asyncio.subprocess.Process:
        """`runsc run`: create and start the container and stay until it exits. stdin is a pipe
        for the job's order; runsc's own messages go to `log` (the job's output never does)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as log_file:
            return await asyncio.create_subprocess_exec(
                *self.command("run", f"--bundle={bundle}", container_id),
                stdin=subprocess.PIPE,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,
            )

    async def kill(self, container_id: str) -> None:
        await self._control("kill", container_id, "KILL")

    async def delete(self, container_id: str) -> None:
        await self._control("delete", "--force", container_id)

    async def list_ids(self) -> list[str]:
        if not self.state_dir.is_dir():
            return []
        output = await self._control("list", "--quiet")
        return output.split()

    async def version(self) -> str:
        output = await self._control("--version")
        first = output.splitlines()[0] if output else ""
        return first.removeprefix("runsc version ").strip() or "unknown"

    async def _control(self, *arguments: str) -> str:
        process = await asyncio.create_subprocess_exec(
            *self.command(*arguments),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), CONTROL_TIMEOUT_SECONDS)
        except TimeoutError:
            kill_group(process.pid)
            await process.wait()
            raise RunscError(f"runsc {arguments[0]} did not finish in time") from None
        text = output.decode("utf-8", errors="replace").strip()
        if process.returncode != 0:
            raise RunscError(
                f"runsc {arguments[0]} failed: {text.splitlines()[-1] if text else ''}"
            )
        return text


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
