"""The analyst's side of a written analysis: the script taken from the LLM's reply, the bounded
feedback it gets, and how a written result (or its failure) becomes findings."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from aether.agents.analysts.coverage import UncoveredAsk
from aether.agents.analysts.written import (
    ANSWER_IMPORTANCE,
    FAILED_KIND,
    FEEDBACK_CHARS,
    WrittenRun,
    extract_script,
    feedback,
    merged,
    written_findings,
)
from aether.analysis.findings import AnalysisParams, AnalysisResult, Finding
from aether.analysis.schema import COLUMNS
from aether.sandbox.jobs import AnalysisJob, JobOutcome

ASK = UncoveredAsk(ask="a correlation", words="correlation")
JOB = AnalysisJob(
    analyst="energy",
    params=AnalysisParams(
        window_start=datetime(2026, 11, 16, tzinfo=UTC),
        window_end=datetime(2026, 11, 23, tzinfo=UTC),
        timezone="Europe/Berlin",
        window_label="last week",
    ),
    entities={},
    frame=pd.DataFrame(columns=list(COLUMNS)),
)


def finding(kind: str, importance: float = 0.5) -> Finding:
    return Finding(
        analyst="energy", kind=kind, title=kind, summary=kind, confidence=0.8, importance=importance
    )


def test_the_script_is_the_first_fenced_block_or_the_whole_reply() -> None:
    assert extract_script("Sure:\n```python\nprint(1)\n```\nand\n```\nx\n```") == "print(1)\n"
    assert extract_script("```\nprint(2)\n```") == "print(2)\n"
    assert extract_script("print(3)") == "print(3)\n"


def test_feedback_keeps_the_end_of_a_long_error() -> None:
    text = feedback("analysis failed: KeyError: 'watts'", "x" * 10_000 + "\nKeyError: 'watts'")

    assert text.endswith("Return the corrected script, in one ```python block.")
    assert "KeyError: 'watts'\nReturn" in text
    assert len(text) < FEEDBACK_CHARS + 100


def test_a_written_result_leads_and_says_where_it_comes_from() -> None:
    result = AnalysisResult(analyst="energy", findings=[finding("correlation")], confidence=0.7)
    run = WrittenRun(
        outcome=JobOutcome(result=result, duration_seconds=1.0, runner="gvisor"),
        scripts=["print(1)\n", "print(2)\n"],
    )

    (written,) = written_findings(run, JOB, ASK)
    builtin = AnalysisResult(analyst="energy", findings=[finding("baseload", 1.0)], confidence=0.9)
    combined = merged(builtin, [written])

    assert written.importance == ANSWER_IMPORTANCE
    assert written.evidence[0].data["attempts"] == 2
    assert "gvisor sandbox under the standard policy" in written.evidence[0].description
    assert [f.kind for f in combined.findings] == ["correlation", "baseload"]
    assert combined.confidence == 0.9  # the built-in analysis's, which retries judge


def test_a_failed_written_analysis_is_a_finding_with_the_reason() -> None:
    run = WrittenRun(failure="the script failed after one correction: analysis failed: KeyError")

    (failed,) = written_findings(run, JOB, ASK)

    assert failed.kind == FAILED_KIND
    assert failed.confidence == 0
    assert "No built-in analysis computes a correlation" in failed.summary
    assert failed.summary.endswith("analysis failed: KeyError")
    assert failed.evidence[0].data["error"] == run.failure
