"""A gVisor sandbox's first and only job process: optionally import the analysis libraries, wait for
the order on stdin, lower the limits to the job's policy, run the job, exit.

Warm sandboxes start with `--preload`, so the ~2 s of importing pandas and pyarrow are spent
before a job exists; a cold sandbox gets its order at once and imports only what its job needs.
Either way the sandbox serves exactly one job. Runs inside the sandbox: stdlib and pydantic only
at import time. Usage: `python -I -m aether.sandbox.worker_main [--preload] <job_dir>`.
"""

from __future__ import annotations

import importlib
import os
import resource
import sys
from pathlib import Path
from typing import Final

from aether.sandbox.layout import JOB_MODULE, SCRIPT_MODULE, JobDir, JobLimits, JobOrder

PRELOAD: Final = ("pandas", "pyarrow.parquet", JOB_MODULE)
"""What an analysis job imports; a warm sandbox has it in memory before its order comes."""
ENTRY_POINTS: Final = {"analysis": JOB_MODULE, "script": SCRIPT_MODULE}


def redirect_output(job_dir: JobDir) -> None:
    """Standard output and error go to files in the job's log directory, inside the sandbox: there
    the file size limit applies and the runner's quota sees them, where a descriptor of the host
    would take any amount (and a pipe out of gVisor is cut at 64 KiB)."""
    for fd, path in ((1, job_dir.stdout), (2, job_dir.stderr)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        os.dup2(target, fd)
        os.close(target)


def read_order() -> JobOrder:
    """Blocks until the runner writes the order, then detaches stdin so the job cannot read it."""
    line = sys.stdin.buffer.readline()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return JobOrder.model_validate_json(line)


def lower_limits(limits: JobLimits) -> None:
    """Soft and hard together: the job cannot raise them again."""
    for kind, value in (
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
        (resource.RLIMIT_NPROC, limits.processes),
    ):
        _, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(kind, (value, value))


def main(argv: list[str]) -> int:
    preload = argv[:1] == ["--preload"]
    arguments = argv[1:] if preload else argv
    if len(arguments) != 1:
        print(
            "usage: python -I -m aether.sandbox.worker_main [--preload] <job_dir>", file=sys.stderr
        )
        return 2
    job_dir = JobDir(Path(arguments[0]))
    redirect_output(job_dir)
    if preload:
        for module in PRELOAD:
            importlib.import_module(module)
        job_dir.ready.touch()
    order = read_order()
    lower_limits(order.limits)
    entry = importlib.import_module(ENTRY_POINTS[order.kind])
    status: int = entry.main([str(job_dir.root)])
    return status


def exit_now(status: int) -> None:
    """Leave without the interpreter's shutdown: with pandas loaded it takes a tenth of a second
    or more inside gVisor, and the job's files are already written and closed."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))
