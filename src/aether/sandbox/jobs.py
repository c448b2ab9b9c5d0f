"""The job contract: what an analyst hands a runner, what comes back, and how it can fail."""

from __future__ import annotations

from typing import Final

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from aether.analysis.findings import AnalysisParams, AnalysisResult, AnalystName
from aether.analysis.schema import COLUMNS, EntityMeta
from aether.store.artifacts import ArtifactRef

MAX_SCRIPT_CHARS: Final = 256 * 1024


class AnalysisJob(BaseModel):
    """One analyst's analysis of one household frame.

    The frame is excluded from serialisation: it travels as Parquet, the rest as JSON.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    analyst: AnalystName
    params: AnalysisParams
    entities: dict[str, EntityMeta]
    frame: pd.DataFrame = Field(exclude=True, repr=False)
    script: str | None = Field(default=None, max_length=MAX_SCRIPT_CHARS, repr=False)
    """A written analysis (the LLM's script for a question the built-in analyses do not cover),
    run on the same input files instead of the analyst's built-in analysis; None runs that."""

    @field_validator("frame")
    @classmethod
    def _has_household_columns(cls, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [column for column in COLUMNS if column not in frame.columns]
        if missing:
            raise ValueError(f"frame lacks the household columns {missing}")
        return frame


class JobOutcome(BaseModel):
    result: AnalysisResult
    duration_seconds: float = Field(ge=0)
    """Wall-clock time of the job process, from start to exit."""
    runner: str
    """Name of the runner that ran the job, so callers can report the isolation that applied."""
    artifacts: list[ArtifactRef] = Field(default_factory=list)
    """The job's stored tables and charts (linked from its findings); none without a store."""


class SandboxError(Exception):
    """An analysis job did not produce a usable result. Messages are short and safe to show."""


class SandboxTimeout(SandboxError):
    def __init__(self, timeout_seconds: float, subject: str = "analysis") -> None:
        super().__init__(f"{subject} job exceeded its time limit of {timeout_seconds:g} s")
        self.timeout_seconds = timeout_seconds


class SandboxJobFailed(SandboxError):
    """The job exited unsuccessfully. `stderr_tail` is for logs; the message is for users."""

    def __init__(
        self, message: str, *, returncode: int, error_type: str | None, stderr_tail: str
    ) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.error_type = error_type
        self.stderr_tail = stderr_tail


class SandboxOutputInvalid(SandboxError):
    """The job exited successfully but its result is missing, too large or malformed."""


class SandboxLimitExceeded(SandboxError):
    """The job broke one of its policy's output limits (standard output, output size or file
    count) and was stopped."""


class SandboxUnavailable(Exception):
    """The configured isolation cannot run on this host; the message is one line with the reason.
    Raised at start-up, never for a single job."""
