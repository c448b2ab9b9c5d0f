"""Charts of an energy result, drawn inside the job as SVG files in its output directory.

The job draws them because only it holds the figures at full detail, and the runner then collects
them like any other artifact. Runs inside the sandbox root (stdlib and pydantic only), so the SVG
is built with ElementTree: its escaping keeps a device or day label from becoming markup, which
matters because the file is served to browsers.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import date
from typing import Final

from aether.analysis.findings import AnalysisResult, Finding

DAILY_CHART: Final = "daily_consumption.svg"
PROFILE_CHART: Final = "load_profile.svg"
SVG_NS: Final = "http://www.w3.org/2000/svg"
WIDTH: Final = 640
HEIGHT: Final = 320
MARGIN: Final = 40
"""Room around the plot for the title, the axis labels and the scale."""
HOURS: Final = 24

Bar = tuple[str, float | None]
"""A bar's label and value; None keeps the slot empty (an hour without readings is not 0 kWh)."""


def _finding(result: AnalysisResult, kind: str) -> Finding | None:
    return next((f for f in result.findings if f.kind == kind), None)


def daily_bars(result: AnalysisResult) -> list[Bar]:
    """One bar per local day of the daily consumption finding (metrics named by ISO date)."""
    finding = _finding(result, "daily_consumption")
    if finding is None:
        return []
    bars: list[Bar] = []
    for metric in finding.metrics:
        try:
            day = date.fromisoformat(metric.name)
        except ValueError:
            continue  # the average, not a day
        bars.append((day.strftime("%a %d"), metric.value))
    return bars


def profile_bars(result: AnalysisResult) -> list[Bar]:
    """All 24 hours of the hourly profile (metrics `hour_00`..`hour_23`), empty where missing."""
    finding = _finding(result, "hourly_profile")
    if finding is None or not finding.metrics:
        return []
    values = {m.name: m.value for m in finding.metrics}
    return [(f"{hour:02d}", values.get(f"hour_{hour:02d}")) for hour in range(HOURS)]


def bar_chart(title: str, unit: str, bars: Sequence[Bar]) -> ET.Element:
    """A plain bar chart scaled to the largest value; every bar has a <title> tooltip."""
    svg = ET.Element(
        "svg",
        {"xmlns": SVG_NS, "width": str(WIDTH), "height": str(HEIGHT), "role": "img"},
        viewBox=f"0 0 {WIDTH} {HEIGHT}",
    )
    ET.SubElement(svg, "title").text = title
    _text(svg, WIDTH / 2, MARGIN / 2, f"{title} ({unit})", anchor="middle")
    top = max((v for _, v in bars if v is not None), default=0.0) or 1.0
    plot_height = HEIGHT - 2 * MARGIN
    slot = (WIDTH - 2 * MARGIN) / max(len(bars), 1)
    for index, (label, value) in enumerate(bars):
        x = MARGIN + index * slot
        if value is not None:
            height = max(value, 0.0) / top * plot_height
            rect = ET.SubElement(
                svg,
                "rect",
                x=f"{x + slot * 0.1:.1f}",
                y=f"{HEIGHT - MARGIN - height:.1f}",
                width=f"{slot * 0.8:.1f}",
                height=f"{height:.1f}",
                fill="#2f7ebc",
            )
            ET.SubElement(rect, "title").text = f"{label}: {value:g} {unit}"
        _text(svg, x + slot / 2, HEIGHT - MARGIN / 2, label, anchor="middle")
    _text(svg, MARGIN / 4, MARGIN, f"{top:g}")
    return svg


def _text(parent: ET.Element, x: float, y: float, content: str, anchor: str = "start") -> None:
    attributes = {"x": f"{x:.1f}", "y": f"{y:.1f}", "text-anchor": anchor}
    font = {"font-size": "11", "font-family": "sans-serif"}
    ET.SubElement(parent, "text", {**attributes, **font}).text = content


def chart_files(result: AnalysisResult) -> dict[str, str]:
    """File name -> SVG text of the charts the energy result has figures for (none otherwise)."""
    if result.analyst != "energy":
        return {}
    charts = {
        DAILY_CHART: ("Daily consumption", "kWh", daily_bars(result)),
        PROFILE_CHART: ("Load profile: average per hour of day", "kWh", profile_bars(result)),
    }
    return {
        name: ET.tostring(bar_chart(title, unit, bars), encoding="unicode")
        for name, (title, unit, bars) in charts.items()
        if bars
    }
