"""Picks the runner for this host; the gVisor runner joins here, and analysts only see `Runner`."""

from __future__ import annotations

import logging
from pathlib import Path

from aether.sandbox.runner import Runner
from aether.sandbox.subprocess_runner import SubprocessRunner

logger = logging.getLogger(__name__)


def build_runner(data_dir: Path, timeout_seconds: float) -> Runner:
    """Jobs get their directories under `<data_dir>/sandbox`."""
    logger.warning(
        "analysis jobs run as plain subprocesses (rlimits, timeout, scrubbed environment), "
        "not in gVisor"
    )
    return SubprocessRunner(work_dir=data_dir / "sandbox", timeout_seconds=timeout_seconds)
