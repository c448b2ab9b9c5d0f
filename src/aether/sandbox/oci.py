"""The OCI runtime spec (`config.json`) of one job's sandbox: what it sees and what it may use.

The root is the prepared read-only root; the job directory comes in as three bind mounts (inputs
read-only, output and logs writable) and /tmp is a small private tmpfs. The process runs as
nobody (under rootless runsc: the sandbox's uid 0, which is the service's own unprivileged user)
with no capabilities and no way to gain any; rlimits bound memory, tasks and file size inside
gVisor. Where the host lets the service use cgroups, the sandbox as a whole also gets a memory,
CPU and task limit, which covers gVisor's own overhead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from aether.sandbox.layout import WORKER_MODULE, JobDir
from aether.sandbox.policy import MIB, SandboxPolicy
from aether.sandbox.process import THREAD_CAPS
from aether.sandbox.rootfs import INTERPRETER, LIBRARY_DIR

NOBODY: Final = 65534
ROOTLESS_USER: Final = 0
"""The only identity a rootless sandbox maps (to the service's unprivileged user on the host)."""
JOB_ROOT: Final = Path("/job")
"""Where the job directory appears inside the sandbox."""
SANDBOX_OVERHEAD_MB: Final = 512
"""gVisor's own memory (the sentry and its page tables) on top of the job's, for the cgroup."""
SANDBOX_TASKS: Final = 4096
"""Host tasks of a sandbox (sentry and gofer threads, one per job task under ptrace): a backstop
only, the job's own limit is RLIMIT_NPROC inside."""
CPU_PERIOD_US: Final = 100_000


@dataclass(frozen=True)
class SandboxSpec:
    root: Path
    job_dir: JobDir
    policy: SandboxPolicy
    preload: bool
    cgroups_path: str | None
    """Set where the service may create cgroups (gVisor as root); None leaves them out."""
    rootless: bool = False
    """runsc runs `--rootless` (the service is not root): its user namespace maps only the
    service's own user, as uid 0 inside, so the job runs as that uid (still without
    capabilities); as nobody it could not create a file in its output directory."""


def job_user(rootless: bool) -> dict[str, Any]:
    uid = ROOTLESS_USER if rootless else NOBODY
    return {"uid": uid, "gid": uid, "additionalGids": []}


def worker_argv(preload: bool) -> list[str]:
    return [
        str(INTERPRETER),
        "-I",
        "-B",
        "-m",
        WORKER_MODULE,
        *(["--preload"] if preload else []),
        str(JOB_ROOT),
    ]


def job_environment() -> list[str]:
    """Nothing of the service's environment: its secrets never reach the sandbox."""
    environment = {
        "PATH": f"{INTERPRETER.parent}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": "/tmp",
        "LD_LIBRARY_PATH": str(LIBRARY_DIR),
        **THREAD_CAPS,
    }
    return [f"{name}={value}" for name, value in environment.items()]


def runtime_spec(spec: SandboxSpec) -> dict[str, Any]:
    policy = spec.policy
    document: dict[str, Any] = {
        "ociVersion": "1.0.0",
        "process": {
            "terminal": False,
            "user": job_user(spec.rootless),
            "args": worker_argv(spec.preload),
            "env": job_environment(),
            "cwd": str(JOB_ROOT),
            "noNewPrivileges": True,
            "capabilities": {
                kind: []
                for kind in ("bounding", "effective", "inheritable", "permitted", "ambient")
            },
            "rlimits": [
                _rlimit("RLIMIT_AS", policy.memory_mb * MIB),
                _rlimit("RLIMIT_FSIZE", policy.file_bytes),
                _rlimit("RLIMIT_NPROC", policy.processes),
                _rlimit("RLIMIT_NOFILE", 256),
                _rlimit("RLIMIT_CORE", 0),
            ],
        },
        "root": {"path": str(spec.root), "readonly": True},
        "hostname": "sandbox",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
            {
                "destination": "/tmp",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "mode=1777", f"size={policy.tmpfs_mb}m"],
            },
            _bind(spec.job_dir.input, JOB_ROOT / "input", writable=False),
            _bind(spec.job_dir.output, JOB_ROOT / "output", writable=True),
            _bind(spec.job_dir.logs, JOB_ROOT / "logs", writable=True),
        ],
        "linux": {
            "namespaces": [{"type": kind} for kind in ("pid", "network", "ipc", "uts", "mount")],
        },
    }
    if spec.cgroups_path is not None:
        document["linux"]["cgroupsPath"] = spec.cgroups_path
        document["linux"]["resources"] = {
            "memory": {"limit": (policy.memory_mb + policy.tmpfs_mb + SANDBOX_OVERHEAD_MB) * MIB},
            "cpu": {"quota": int(policy.cpus * CPU_PERIOD_US), "period": CPU_PERIOD_US},
            "pids": {"limit": SANDBOX_TASKS},
        }
    return document


def _rlimit(kind: str, value: int) -> dict[str, Any]:
    return {"type": kind, "soft": value, "hard": value}


def _bind(source: Path, destination: Path, *, writable: bool) -> dict[str, Any]:
    return {
        "destination": str(destination),
        "type": "bind",
        "source": str(source),
        "options": ["rbind", "nosuid", "nodev", "rw" if writable else "ro"],
    }
