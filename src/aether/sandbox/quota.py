"""What a job has written so far, measured from the host while it runs.

Inside gVisor a single file is capped by RLIMIT_FSIZE, but not the number of files, and every
byte lands on the host's disk: the runner measures the writable directories while it waits and
stops a job that goes over its policy. Scans stop at the first entry beyond the limits, so a
directory with a million files costs no more than one with a few dozen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aether.sandbox.layout import JobDir
from aether.sandbox.policy import SandboxPolicy

LOG_ENTRIES: Final = 3
"""stdout.log, stderr.log and the ready marker: the log directory's entries beyond the job's
output files."""


@dataclass(frozen=True)
class Usage:
    files: int
    bytes: int


def measure(directories: list[Path], max_entries: int) -> Usage:
    """Files and bytes under `directories`, without following symlinks; stops counting once
    more than `max_entries` entries were seen."""
    files = 0
    size = 0
    pending = list(directories)
    while pending and files <= max_entries:
        directory = pending.pop()
        try:
            entries = os.scandir(directory)
        except OSError:
            continue
        with entries:
            for entry in entries:
                files += 1
                if files > max_entries:
                    break
                try:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        size += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
    return Usage(files=files, bytes=size)


def breach(job_dir: JobDir, policy: SandboxPolicy, subject: str) -> str | None:
    """Why the job must stop, or None while it is within its limits."""
    try:
        stdout = job_dir.stdout.lstat().st_size
    except OSError:
        stdout = 0
    if stdout > policy.stdout_bytes:
        return (
            f"{subject} job printed more than {_size(policy.stdout_bytes)} to its standard "
            "output (results go to files)"
        )
    allowed = policy.output_files + LOG_ENTRIES
    usage = measure([job_dir.output, job_dir.logs], max_entries=allowed)
    if usage.files > allowed:
        return f"{subject} job wrote more than {policy.output_files} files"
    if usage.bytes > policy.output_bytes:
        return f"{subject} job wrote more than {_size(policy.output_bytes)} of output"
    return None


def _size(count: int) -> str:
    if count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MiB"
    if count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count} bytes"
