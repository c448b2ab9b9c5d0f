"""Full energy + diagnostic analysis of a large synthetic household: wall time, points/s, memory.

    .venv/bin/python bench/analysis_large.py                 # 365 days, 1-minute, 50 entities
    .venv/bin/python bench/analysis_large.py --repeat 3      # best and spread of 3 runs
    .venv/bin/python bench/analysis_large.py --days 30       # a quick look

The household is generated once (timed separately) and written as Parquet, the sandbox's input
format. Each run is a fresh child process that reads the Parquet file the way an analysis job
does, then runs the energy and the diagnostic analyst over the whole year; its peak resident
memory (ru_maxrss) therefore covers the loaded frame plus everything the analyses allocate.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from pydantic import TypeAdapter

from aether.analysis.findings import AnalysisParams
from aether.analysis.registry import run_analysis
from aether.analysis.schema import EntityMeta
from aether.sandbox.job_main import read_frame
from large_household import clock, household, to_table

TIMEZONE = "Europe/Berlin"
START = "2025-01-01"
_ENTITIES: TypeAdapter[dict[str, EntityMeta]] = TypeAdapter(dict[str, EntityMeta])


def generate(directory: Path, days: int, step_s: int) -> dict[str, float]:
    began = time.perf_counter()
    series = list(household(clock(START, days, step_s, TIMEZONE)))
    table = to_table(series)
    generated = time.perf_counter() - began
    pq.write_table(table, directory / "frame.parquet")
    entities = {s.meta.entity_id: s.meta for s in series}
    (directory / "entities.json").write_bytes(_ENTITIES.dump_json(entities))
    params = AnalysisParams(
        window_start=_stamp(int(series[0].t[0])),
        window_end=_stamp(int(series[0].t[-1]) + step_s * 1_000_000_000),
        timezone=TIMEZONE,
        window_label=f"the {days} days from {START}",
    )
    (directory / "params.json").write_text(params.model_dump_json(), encoding="utf-8")
    return {"points": table.num_rows, "generate_s": generated}


def _stamp(ns: int) -> datetime:
    return pd.Timestamp(ns, unit="ns", tz="UTC").to_pydatetime()


def child(directory: Path) -> None:
    """One measured run; prints a JSON line for the parent."""
    began = time.perf_counter()
    frame = read_frame(directory / "frame.parquet")
    loaded = time.perf_counter()
    loaded_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    entities = _ENTITIES.validate_json((directory / "entities.json").read_bytes())
    params = AnalysisParams.model_validate_json((directory / "params.json").read_bytes())
    timings: dict[str, float] = {"load_s": loaded - began}
    findings = 0
    for analyst in ("energy", "diagnostic"):
        start = time.perf_counter()
        result = run_analysis(analyst, frame, entities, params)
        timings[f"{analyst}_s"] = time.perf_counter() - start
        findings += len(result.findings)
    timings["analysis_s"] = timings["energy_s"] + timings["diagnostic_s"]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps({**timings, "load_mib": loaded_mib, "peak_mib": peak_mib, "findings": findings})
    )


def measure(directory: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(directory)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def report(points: float, runs: list[dict[str, float]]) -> None:
    walls = [r["analysis_s"] for r in runs]
    best = min(runs, key=lambda r: r["analysis_s"])
    spread = max(walls) - min(walls)
    for number, r in enumerate(runs, start=1):
        print(
            f"run {number}: load {r['load_s']:.1f} s, energy {r['energy_s']:.1f} s, "
            f"diagnostic {r['diagnostic_s']:.1f} s, analysis {r['analysis_s']:.1f} s, "
            f"peak RSS {r['peak_mib']:,.0f} MiB (after loading {r['load_mib']:,.0f} MiB), "
            f"{r['findings']:.0f} findings"
        )
    print(
        f"best analysis wall time {best['analysis_s']:.1f} s (spread {spread:.1f} s over "
        f"{len(runs)} runs, median {statistics.median(walls):.1f} s); "
        f"{points / best['analysis_s'] / 1e6:.2f} M points/s; "
        f"peak RSS {max(r['peak_mib'] for r in runs):,.0f} MiB (incl. the loaded frame)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--step-seconds", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--data", type=Path, help="keep the generated household here and reuse it next time"
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    with tempfile.TemporaryDirectory(prefix="aether-bench-") as name:
        directory = args.data or Path(name)
        directory.mkdir(parents=True, exist_ok=True)
        if (directory / "frame.parquet").is_file():
            points = float(pq.ParquetFile(directory / "frame.parquet").metadata.num_rows)
            print(f"reusing {points:,.0f} points in {directory}")
        else:
            facts = generate(directory, args.days, args.step_seconds)
            points = facts["points"]
            print(
                f"generated {points:,.0f} points of 50 entities ({args.days} days at "
                f"{args.step_seconds} s) in {facts['generate_s']:.1f} s"
            )
        runs = [measure(directory) for _ in range(args.repeat)]
        report(points, runs)


if __name__ == "__main__":
    main()
