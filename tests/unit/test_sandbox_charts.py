"""Charts drawn inside the job: a bar per day, 24 hour slots, SVG the artifact collector takes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta
from pathlib import Path

from aether.analysis.findings import AnalysisResult, Finding, Metric
from aether.sandbox import job_main
from aether.sandbox.artifacts import collect_artifacts
from aether.sandbox.charts import (
    DAILY_CHART,
    PROFILE_CHART,
    SVG_NS,
    bar_chart,
    chart_files,
    daily_bars,
    profile_bars,
)
from aether.sandbox.jobfiles import write_inputs
from aether.sandbox.layout import JobDir
from tests.unit.test_sandbox_jobfiles import make_job

RECT = f"{{{SVG_NS}}}rect"
FIRST_DAY = date(2025, 3, 3)


def finding(kind: str, metrics: list[Metric]) -> Finding:
    return Finding(
        analyst="energy", kind=kind, title=kind, summary="s", confidence=0.9, metrics=metrics
    )


def energy_result(days: int = 7, hours: range = range(24)) -> AnalysisResult:
    daily = [
        Metric(name=(FIRST_DAY + timedelta(days=i)).isoformat(), value=10.0 + i, unit="kWh")
        for i in range(days)
    ]
    profile = [Metric(name=f"hour_{h:02d}", value=0.2 + h / 10, unit="kWh") for h in hours]
    return AnalysisResult(
        analyst="energy",
        findings=[
            finding(
                "daily_consumption",
                [*daily, Metric(name="average_per_day", value=13.0, unit="kWh/day")],
            ),
            finding("hourly_profile", profile),
        ],
        confidence=0.9,
    )


def rects(svg: str) -> list[ET.Element]:
    return ET.fromstring(svg).findall(RECT)


def test_the_daily_chart_has_one_bar_per_day() -> None:
    svg = chart_files(energy_result(days=7))[DAILY_CHART]

    bars = rects(svg)
    assert len(bars) == 7
    assert bars[0].findtext(f"{{{SVG_NS}}}title") == "Mon 03: 10 kWh"
    heights = [float(b.attrib["height"]) for b in bars]
    assert heights == sorted(heights)
    assert heights[-1] > heights[0]


def test_the_load_profile_has_24_hour_slots_and_leaves_missing_hours_empty() -> None:
    assert len(profile_bars(energy_result())) == 24
    assert len(rects(chart_files(energy_result())[PROFILE_CHART])) == 24

    gappy = energy_result(hours=range(0, 24, 2))
    assert len(profile_bars(gappy)) == 24
    assert len(rects(chart_files(gappy)[PROFILE_CHART])) == 12


def test_labels_are_escaped_not_markup() -> None:
    svg = ET.tostring(bar_chart("<script>x</script>", "kWh", [("<b>", 1.0)]), encoding="unicode")

    assert "<script" not in svg
    assert "&lt;script&gt;" in svg
    assert len(rects(svg)) == 1


def test_only_energy_results_with_those_figures_get_charts() -> None:
    other = energy_result().model_copy(update={"analyst": "behavioral"})
    empty = AnalysisResult(analyst="energy", findings=[], confidence=0.5)

    assert chart_files(other) == {}
    assert chart_files(empty) == {}
    assert daily_bars(empty) == profile_bars(empty) == []


def test_the_collector_takes_the_charts_as_svg(tmp_path: Path) -> None:
    for name, svg in chart_files(energy_result()).items():
        (tmp_path / name).write_text(svg, encoding="utf-8")

    collected = collect_artifacts(tmp_path)

    assert collected.refused == []
    assert [(f.name, f.media_type) for f in collected.files] == [
        (DAILY_CHART, "image/svg+xml"),
        (PROFILE_CHART, "image/svg+xml"),
    ]


def test_the_job_writes_its_charts_next_to_the_metrics(tmp_path: Path) -> None:
    job_dir = JobDir(tmp_path / "job")
    job_dir.create()
    write_inputs(make_job(), job_dir)

    assert job_main.main([str(job_dir.root)]) == 0

    written = {p.name for p in job_dir.output.iterdir()}
    assert {DAILY_CHART, job_main.METRICS_FILE} <= written
    result = AnalysisResult.model_validate_json(job_dir.result.read_text())
    chart = (job_dir.output / DAILY_CHART).read_text()
    assert chart == chart_files(result)[DAILY_CHART]
    assert len(rects(chart)) == len(daily_bars(result)) >= 1
