"""Artifacts out of a job's output directory: allow-listed, checked, bounded, linked."""

from __future__ import annotations

from pathlib import Path

from aether.analysis.findings import AnalysisResult, Finding, Metric
from aether.sandbox.artifacts import (
    MAX_ARTIFACT_BYTES,
    MAX_ARTIFACTS,
    collect_artifacts,
    link_artifacts,
)
from aether.sandbox.job_main import metrics_table
from aether.store.artifacts import ArtifactRef

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>'


def finding(kind: str, metrics: list[Metric]) -> Finding:
    return Finding(
        analyst="energy", kind=kind, title=kind, summary="s", confidence=0.9, metrics=metrics
    )


def test_allowed_types_with_matching_content_are_taken(tmp_path: Path) -> None:
    (tmp_path / "chart.png").write_bytes(PNG)
    (tmp_path / "chart.svg").write_bytes(SVG)
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    (tmp_path / "table.json").write_text('{"a": 1}')
    (tmp_path / "result.json").write_text("{}")

    collected = collect_artifacts(tmp_path)

    assert [(f.name, f.media_type) for f in collected.files] == [
        ("chart.png", "image/png"),
        ("chart.svg", "image/svg+xml"),
        ("table.csv", "text/csv"),
        ("table.json", "application/json"),
    ]
    assert collected.refused == []
    assert len(collected.files[0].sha256) == 64


def test_other_types_lies_and_active_svg_are_refused(tmp_path: Path) -> None:
    (tmp_path / "run.sh").write_text("rm -rf /")
    (tmp_path / "fake.png").write_text("not a png")
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "evil.svg").write_bytes(SVG.replace(b"<rect", b"<script>alert(1)</script><rect"))
    (tmp_path / "binary.csv").write_bytes(b"a\x00b")

    collected = collect_artifacts(tmp_path)

    assert collected.files == []
    assert len(collected.refused) == 5
    assert any("run.sh: not an allowed type" in reason for reason in collected.refused)


def test_size_and_count_are_bounded(tmp_path: Path) -> None:
    (tmp_path / "big.csv").write_text("x" * (MAX_ARTIFACT_BYTES + 1))
    for n in range(MAX_ARTIFACTS + 2):
        (tmp_path / f"t{n:02}.csv").write_text("a\n")

    collected = collect_artifacts(tmp_path)

    assert len(collected.files) == MAX_ARTIFACTS
    assert "big.csv: larger than 2 MiB" in collected.refused
    assert sum("more than" in reason for reason in collected.refused) == 2


def test_links_go_to_findings_with_figures() -> None:
    with_metrics = finding("consumption_total", [Metric(name="total", value=3.5, unit="kWh")])
    without = finding("gap", [])
    result = AnalysisResult(analyst="energy", findings=[with_metrics, without], confidence=0.9)
    ref = ArtifactRef(id="a" * 64, name="metrics.csv", media_type="text/csv", size=10)

    linked = link_artifacts(result, [ref])

    (evidence,) = linked.findings[0].evidence
    assert evidence.data["artifact_id"] == "a" * 64
    assert f"/api/v1/artifacts/{'a' * 64}" in evidence.description
    assert linked.findings[1].evidence == []
    assert link_artifacts(result, []) is result


def test_the_metrics_table_has_a_row_per_metric() -> None:
    result = AnalysisResult(
        analyst="energy",
        findings=[
            finding("consumption_total", [Metric(name="total", value=3.5, unit="kWh")]),
            finding(
                "peak",
                [Metric(name="peak", value=2100.0, unit="W", entity_id="sensor.oven_power")],
            ),
        ],
        confidence=0.9,
    )

    assert metrics_table(result).splitlines() == [
        "finding,title,metric,value,unit,entity_id,at",
        "consumption_total,consumption_total,total,3.5,kWh,,",
        "peak,peak,peak,2100.0,W,sensor.oven_power,",
    ]
