"""The job directory: the only channel between a runner and its job, in both directions.

Inputs are files the runner writes, outputs are files the job writes; no data travels as source
text or through pipes. Stdlib and pydantic only, so the job side can import it inside the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import BaseModel, Field

JOB_MODULE: Final = "aether.sandbox.job_main"
"""Run as `python -I -m aether.sandbox.job_main <job_dir>`."""

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
    def stdout(self) -> Path:
        return self.root / "stdout.log"

    @property
    def stderr(self) -> Path:
        return self.root / "stderr.log"

    def create(self) -> None:
        self.input.mkdir(parents=True, exist_ok=True)
        self.output.mkdir(exist_ok=True)


class JobError(BaseModel):
    """What the job reports when its analysis raised: the exception's type and message only."""

    type: str = Field(max_length=200)
    message: str = Field(max_length=MAX_ERROR_MESSAGE_CHARS)

    @classmethod
    def from_exception(cls, exc: BaseException) -> JobError:
        return cls(type=type(exc).__name__[:200], message=str(exc)[:MAX_ERROR_MESSAGE_CHARS])
