"""The errors the deployer raises; each message is meant to be shown to the operator as is."""

from __future__ import annotations


class DeployError(Exception):
    """Base of every deployment failure."""


class TopologyError(DeployError):
    """The topology file is missing, unreadable or inconsistent."""


class PortInUseError(DeployError):
    """A role's port is taken before the role starts (another mesh, or another program)."""


class NotReadyError(DeployError):
    """A role exited or did not become ready in time; the message carries its last log lines."""

    def __init__(self, role: str, reason: str, last_lines: list[str]) -> None:
        self.role = role
        self.reason = reason
        self.last_lines = last_lines
        tail = "\n".join(f"    {line}" for line in last_lines) or "    (no output)"
        super().__init__(f"{role} {reason}; its last log lines:\n{tail}")


class LaunchInterrupted(DeployError):
    """A stop was requested (Ctrl-C, SIGTERM) before every role was ready."""
