"""The job side of a written analysis: the script's result must be a valid AnalysisResult for the
job's analyst, and every refusal says precisely what is wrong (it goes back to the script's
author)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aether.sandbox.layout import JobDir
from aether.sandbox.written import WrittenResultInvalid, checked, run_written, written_result

FINDING = {
    "analyst": "energy",
    "kind": "night_power",
    "title": "Fridge at night",
    "summary": "The fridge drew 46 W on average at night.",
    "confidence": 0.8,
    "metrics": [{"name": "mean_power", "value": 46.0, "unit": "W"}],
}


def result(**changes: object) -> bytes:
    document = {"analyst": "energy", "confidence": 0.8, "findings": [FINDING], **changes}
    return json.dumps(document).encode()


def job_dir(tmp_path: Path, script: str) -> JobDir:
    directory = JobDir(tmp_path / "job")
    directory.create()
    directory.analyst.write_text('"energy"')
    directory.script.write_text(script)
    return directory


def test_a_valid_result_is_taken() -> None:
    parsed = checked(result(), "energy")

    assert parsed.findings[0].metrics[0].value == 46.0


def test_an_invalid_result_names_the_first_error_and_where() -> None:
    with pytest.raises(WrittenResultInvalid, match=r"valid array at findings \(1 error"):
        checked(result(findings="none"), "energy")


def test_every_finding_must_be_the_job_analysts() -> None:
    with pytest.raises(WrittenResultInvalid, match="must report the analyst 'energy'"):
        checked(result(findings=[{**FINDING, "analyst": "diagnostic"}]), "energy")
    with pytest.raises(WrittenResultInvalid, match="must report the analyst"):
        checked(result(analyst="behavioral"), "energy")


def test_a_script_that_writes_nothing_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the script runs in its job directory
    directory = job_dir(tmp_path, "x = 1\n")

    with pytest.raises(WrittenResultInvalid, match=r"without writing output/result\.json"):
        run_written(directory)


def test_a_failing_script_reports_its_error_and_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = job_dir(tmp_path, "raise KeyError('watts')\n")

    assert run_written(directory) == 1
    assert json.loads(directory.error.read_text()) == {"type": "KeyError", "message": "'watts'"}


def test_the_scripts_result_is_read_from_its_output(tmp_path: Path) -> None:
    directory = job_dir(tmp_path, "")
    directory.result.write_bytes(result())

    assert written_result(directory).findings[0].kind == "night_power"
