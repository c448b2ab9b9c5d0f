"""The offline writer narrates the real findings: figures with units, periods and caveats."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from aether.analysis.findings import Evidence, Finding, Metric
from aether.llm.formatting import format_period, format_quantity, humanize_name
from aether.llm.offline_writer import (
    DataCoverage,
    architect_system_prompt,
    findings_context,
    write_answer,
    write_capabilities,
    write_greeting,
)

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2025, 3, 2, 23, tzinfo=UTC)  # 3 Mar 00:00 in Berlin
END = datetime(2025, 3, 9, 23, tzinfo=UTC)  # 10 Mar 00:00 in Berlin, exclusive
NAMES = {"sensor.house_energy": "House energy meter", "sensor.house_power": "House power"}


def total() -> Finding:
    return Finding(
        analyst="energy",
        kind="consumption_total",
        title="Total consumption",
        summary="You used 84.3 kWh in the last 7 days",
        confidence=0.95,
        importance=0.9,
        metrics=[
            Metric(name="total_kwh", value=84.2731, unit="kWh", entity_id="sensor.house_energy"),
            Metric(name="daily_average_kwh", value=12.0390, unit="kWh/day"),
        ],
        entities=["sensor.house_energy"],
        period_start=START,
        period_end=END,
    )


def baseload() -> Finding:
    return Finding(
        analyst="energy",
        kind="baseload",
        title="Baseload",
        summary="Your always-on baseload is about 182 W.",
        confidence=0.8,
        importance=0.8,
        metrics=[
            Metric(name="baseload_w", value=182.44, unit="W"),
            Metric(name="share_of_total", value=36.43, unit="%"),
        ],
        entities=["sensor.house_power"],
        period_start=START,
        period_end=END,
    )


def peak() -> Finding:
    return Finding(
        analyst="energy",
        kind="peak_power",
        title="Peak demand",
        summary="Peak demand was 7,450 W on Thursday evening.",
        confidence=0.9,
        importance=0.6,
        metrics=[
            Metric(
                name="peak_w", value=7450.2, unit="W", at=datetime(2025, 3, 6, 17, 15, tzinfo=UTC)
            )
        ],
        entities=["sensor.house_power"],
        period_start=START,
        period_end=END,
    )


def gap() -> Finding:
    return Finding(
        analyst="diagnostic",
        kind="gap",
        title="Data gap",
        summary="The heat pump meter reported nothing for 6.5 h",
        confidence=0.9,
        importance=0.7,
        metrics=[Metric(name="gaps", value=1, unit="count")],
        entities=["sensor.heat_pump_power"],
        period_start=datetime(2025, 3, 4, 1, tzinfo=UTC),
        period_end=datetime(2025, 3, 4, 7, 30, tzinfo=UTC),
    )


def routine() -> Finding:
    return Finding(
        analyst="behavioral",
        kind="recurring_action",
        title="Evening dishwasher",
        summary="The dishwasher runs most weekdays around 21:00.",
        confidence=0.45,
        importance=0.4,
        metrics=[Metric(name="occurrences", value=5, unit="count")],
        entities=["switch.dishwasher"],
        evidence=[Evidence(description="Only 7 days of history")],
        period_start=START,
        period_end=END,
    )


def all_findings() -> list[Finding]:
    return [routine(), peak(), gap(), baseload(), total()]


def answer(question: str, label: str | None = "last 7 days") -> str:
    return write_answer(question, all_findings(), label, entity_names=NAMES, tz=BERLIN)


def test_direct_answer_comes_first_and_addresses_the_question() -> None:
    text = answer("How much did I use last week, and what is my baseload?")
    first_paragraph = text.split("\n\n")[0]
    assert "84.3 kWh" in first_paragraph
    assert "182 W" in first_paragraph
    assert "7,450" not in first_paragraph


def test_direct_answer_follows_the_topic_asked() -> None:
    first_paragraph = answer("When was my peak?").split("\n\n")[0]
    assert "Peak demand was 7,450 W" in first_paragraph
    assert "84.3 kWh" not in first_paragraph


def test_key_figures_have_units_names_and_the_period_label() -> None:
    text = answer("How is my energy use?")
    assert "**Key figures — last 7 days**" in text
    assert "- **Total consumption**: 84.3 kWh; daily average 12.0 kWh/day — House energy meter" in (
        text
    )
    assert "- **Baseload**: 182 W; share of total 36% — House power" in text
    assert "7,450 W at 6 Mar 2025 18:15" in text  # shown in the household's zone
    assert "5 occurrences" in text
    assert "`switch.dishwasher`" in text  # no friendly name known: the entity id


def test_figures_are_ordered_by_importance() -> None:
    text = answer("Tell me about my energy")
    figures = text.split("**Key figures")[1].split("**Data quality**")[0]
    order = [figures.index(title) for title in ("Total", "Baseload", "Peak", "Evening")]
    assert order == sorted(order)


def test_period_comes_from_the_findings_when_there_is_no_label() -> None:
    text = answer("How much did I use?", label=None)
    assert "3–9 Mar 2025" in text


def test_diagnostic_and_low_confidence_caveats() -> None:
    text = answer("How much did I use?")
    caveats = text.split("**Data quality**\n")[1]
    assert "**Data gap**: The heat pump meter reported nothing for 6.5 h." in caveats
    assert "(4 Mar 2025, 02:00–08:30)" in caveats
    assert "**Evening dishwasher** is uncertain (confidence 45%). Only 7 days of history." in (
        caveats
    )
    assert "Data gap" not in text.split("**Data quality**")[0]


def test_uncertain_headline_is_flagged() -> None:
    text = answer("What are my daily habits and routines?")
    assert "Treat these figures with care" in text.split("\n\n")[0]


def test_topic_without_findings_is_named() -> None:
    text = answer("How much did my solar panels produce?")
    assert text.startswith("I have no figures on solar production for this period.")
    assert "84.3 kWh" in text.split("\n\n")[0]


def test_quality_question_without_diagnostics() -> None:
    text = write_answer("Are there gaps in my data?", [total()], "March")
    assert "No data-quality problems were reported" in text
    assert "**Data quality**" not in text


def test_no_findings_says_so_and_suggests_what_is_available() -> None:
    text = write_answer("How much did I use?", [], "last 7 days")
    assert "no energy data for **last 7 days**" in text
    assert "last 30 days" in text

    coverage = DataCoverage(start=START, end=END, entities=["sensor.house_energy"])
    text = write_answer(
        "How much did I use?", [], "January", entity_names=NAMES, tz=BERLIN, coverage=coverage
    )
    assert "no energy data for **January**" in text
    assert "Data is available for 3–9 Mar 2025 from House energy meter" in text


def test_greeting_and_capabilities_offer_example_questions() -> None:
    for text in (write_greeting(), write_capabilities()):
        assert "Aether" in text or "What I can answer" in text
        assert "baseload" in text
        assert "- How much electricity did I use last week" in text
    assert "approve" in write_capabilities()


def test_findings_context_carries_every_figure_for_the_llm() -> None:
    context = findings_context(all_findings(), "last 7 days", entity_names=NAMES, tz=BERLIN)
    assert context.startswith("Analysis window: last 7 days\n")
    assert context.index("[1] Total consumption") < context.index("[2] Baseload")
    assert "total_kwh = 84.3 kWh [House energy meter]" in context
    assert "peak_w = 7,450 W at 6 Mar 2025 18:15" in context
    assert "confidence 45%" in context
    assert "Evidence: Only 7 days of history" in context
    assert "no data" in findings_context([]).lower()


def test_system_prompt_forbids_invented_numbers() -> None:
    prompt = architect_system_prompt()
    assert "Never invent" in prompt
    assert "approve" in prompt


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (84.2731, "kWh", "84.3 kWh"),
        (12345.67, "kWh", "12,345.7 kWh"),
        (182.44, "W", "182 W"),
        (7450.6, "W", "7,451 W"),
        (36.43, "%", "36%"),
        (4.56, "%", "4.6%"),
        (1.234, "kW", "1.23 kW"),
        (3.0, "count", "3"),
        (-0.01, "kWh", "0.0 kWh"),
        (0.1234, "EUR/kWh", "0.123 EUR/kWh"),
    ],
)
def test_format_quantity(value: float, unit: str, expected: str) -> None:
    assert format_quantity(value, unit) == expected


def test_humanize_name_drops_unit_suffixes() -> None:
    assert humanize_name("baseload_w", "W") == "baseload"
    assert humanize_name("daily_average_kwh", "kWh/day") == "daily average"
    assert humanize_name("peak", "W") == "peak"


def test_format_period() -> None:
    assert format_period(START, END, BERLIN) == "3–9 Mar 2025"
    day_end = datetime(2025, 3, 3, 23, tzinfo=UTC)
    assert format_period(START, day_end, BERLIN) == "3 Mar 2025"
    late = datetime(2025, 4, 2, 22, tzinfo=UTC)
    assert format_period(START, late, BERLIN) == "3 Mar – 2 Apr 2025"
