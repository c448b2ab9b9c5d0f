"""The job's side of the job directory: read inputs, run the analysis, write the result file.

The analysis is the analyst's built-in one, or, when the input holds a script, the analysis that
script computes (`written.py`); either way its figures become a CSV table and its result
`output/result.json`. Runs inside the sandbox, whose root holds only pandas, pyarrow, pydantic,
`aether.analysis` and the job-side sandbox modules (layout, charts, script_main, written), so this
module imports nothing else.
Usage: `python -I -m aether.sandbox.job_main <job_dir>`.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import traceback
from pathlib import Path
from typing import Final

import pandas as pd
import pyarrow.parquet as pq
from pydantic import TypeAdapter

from aether.analysis.findings import AnalysisParams, AnalysisResult, AnalystName
from aether.analysis.registry import run_analysis
from aether.analysis.schema import EntityMeta
from aether.sandbox.charts import chart_files
from aether.sandbox.layout import JobDir, JobError
from aether.sandbox.written import run_written

METRICS_FILE: Final = "metrics.csv"
WRITTEN_METRICS_FILE: Final = "written_metrics.csv"
"""A written analysis's figures, named apart from the built-in analysis's table of the run."""
METRICS_COLUMNS: Final = ("finding", "title", "metric", "value", "unit", "entity_id", "at")

_ANALYST: TypeAdapter[AnalystName] = TypeAdapter(AnalystName)
_ENTITIES: TypeAdapter[dict[str, EntityMeta]] = TypeAdapter(dict[str, EntityMeta])


def read_frame(path: Path) -> pd.DataFrame:
    """Single-threaded on purpose: under a memory limit pyarrow's dataset reader can hang when it
    cannot start its worker threads, where this reader fails with an error."""
    return pq.ParquetFile(path).read(use_threads=False).to_pandas(use_threads=False)


def run_job(job_dir: JobDir) -> AnalysisResult:
    analyst = _ANALYST.validate_json(job_dir.analyst.read_bytes())
    params = AnalysisParams.model_validate_json(job_dir.params.read_bytes())
    entities = _ENTITIES.validate_json(job_dir.entities.read_bytes())
    return run_analysis(analyst, read_frame(job_dir.frame), entities, params)


def metrics_table(result: AnalysisResult) -> str:
    """Every metric of the result as CSV, one row each, for users who want the numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(METRICS_COLUMNS)
    for finding in result.findings:
        for metric in finding.metrics:
            at = metric.at.isoformat() if metric.at else ""
            writer.writerow(
                [
                    finding.kind,
                    finding.title,
                    metric.name,
                    metric.value,
                    metric.unit,
                    metric.entity_id or "",
                    at,
                ]
            )
    return buffer.getvalue()


def write_atomically(path: Path, text: str) -> None:
    """The runner must never read a half-written file, even when the job is killed mid-write."""
    # per process: the forks of a misbehaving job must not rename each other's half-written file
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -I -m aether.sandbox.job_main <job_dir>", file=sys.stderr)
        return 2
    job_dir = JobDir(Path(argv[0]).absolute())  # a written script changes the directory
    try:
        written = job_dir.script.exists()
        result = run_written(job_dir) if written else run_job(job_dir)
        if isinstance(result, int):
            return result
        if any(finding.metrics for finding in result.findings):
            table = WRITTEN_METRICS_FILE if written else METRICS_FILE
            write_atomically(job_dir.output / table, metrics_table(result))
        for name, svg in chart_files(result).items():
            write_atomically(job_dir.output / name, svg)
        write_atomically(job_dir.result, result.model_dump_json())
    except Exception as exc:
        traceback.print_exc()
        write_atomically(job_dir.error, JobError.from_exception(exc).model_dump_json())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
