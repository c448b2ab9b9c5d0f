"""The sandbox's cgroup, removed after its container is gone.

runsc (the Debian release at least) leaves the cgroup it created for a container behind once the
container has exited by itself, in every hierarchy. Removing an empty cgroup is an `rmdir`, which
the kernel refuses while a task is still in it, so this never touches a live sandbox.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Final

CGROUP_ROOT: Final = Path("/sys/fs/cgroup")
PARENT: Final = "/aether-sandbox"
"""The cgroup every sandbox of this service goes under."""


def cgroup_path(container_id: str) -> str:
    return f"{PARENT}/{container_id}"


def remove_cgroup(path: str, root: Path = CGROUP_ROOT) -> None:
    """`path` under the unified hierarchy (cgroup v2) and under every controller (v1)."""
    relative = path.lstrip("/")
    try:
        hierarchies = [root, *(entry for entry in root.iterdir() if entry.is_dir())]
    except OSError:
        return
    for hierarchy in hierarchies:
        with contextlib.suppress(OSError):
            (hierarchy / relative).rmdir()
