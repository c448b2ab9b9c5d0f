"""The job directory: the only channel between a runner and its job, in both directions.

Inputs are files the runner writes, outputs are files the job writes; no data travels as source
text or through pipes (a warm sandbox's stdin carries one `JobOrder` line, which is control, not
data). Stdlib and pydantic only, so the job side can import it inside the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, Field

JOB_MODULE: Final = "aether.sandbox.job_main"
"""Run as `python -I -m aether.sandbox.job_main <job_dir>`."""
SCRIPT_MODULE: Final = "aether.sandbox.script_main"
"""Run as `python -I -m aether.sandbox.script_main <job_dir>`; the script is `input/script.py`."""
WORKER_MODULE: Final = "aether.sandbox.worker_main"
"""A sandbox's first process: waits for its order on stdin, then runs the job it names."""
SCRIPT_FILE: Final = "script.py"

MAX_ERROR_MESSAGE_CHARS: Final = 500


@dataclass(frozen=True)
class JobDir:
    """Paths in one job's directory: the runner writes `input/`, the job writes `output/`."""

    root: Path

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def frame(self) -> Path:
        return self.input / "frame.parquet"

    @property
    def entities(self) -> Path:
        return self.input / "entities.json"

    @property
    def params(self) -> Path:
        return self.input / "params.json"

    @property
    def analyst(self) -> Path:
        return self.input / "analyst.json"

    @property
    def result(self) -> Path:
        return self.output / "result.json"

    @property
    def error(self) -> Path:
        return self.output / "error.json"

    @property
    def logs(self) -> Path:
        """The job's standard output and error; beside `output/` so that both count against the
        job's output quota, and writable from inside a sandbox."""
        return self.root / "logs"

    @property
    def stdout(self) -> Path:
        return self.logs / "stdout.log"

    @property
    def stderr(self) -> Path:
        return self.logs / "stderr.log"

    @property
    def ready(self) -> Path:
        """Written by a warm sandbox's worker once its libraries are imported."""
        return self.logs / "ready"

    @property
    def script(self) -> Path:
        return self.input / SCRIPT_FILE

    def create(self) -> None:
        self.input.mkdir(parents=True, exist_ok=True)
        self.output.mkdir(exist_ok=True)
        self.logs.mkdir(exist_ok=True)


class JobError(BaseModel):
    """What the job reports when its analysis raised: the exception's type and message only."""

    type: str = Field(max_length=200)
    message: str = Field(max_length=MAX_ERROR_MESSAGE_CHARS)

    @classmethod
    def from_exception(cls, exc: BaseException) -> JobError:
        return cls(type=type(exc).__name__[:200], message=str(exc)[:MAX_ERROR_MESSAGE_CHARS])


class JobLimits(BaseModel):
    """Limits a job lowers onto itself before it runs: a warm sandbox starts with the largest
    policy's limits, since its job is not known yet."""

    memory_bytes: int = Field(gt=0)
    file_bytes: int = Field(gt=0)
    processes: int = Field(gt=0)


JobKind = Literal["analysis", "script"]


class JobOrder(BaseModel):
    """The one line a waiting worker reads on stdin once its job directory holds the inputs."""

    kind: JobKind
    limits: JobLimits
