"""The offline writer narrates the real findings as an expert would: the direct answer first, the
period said once, devices by their friendly names, days and clock times as people say them, and
one sentence on how confident the answer is and why."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from aether.agents.contract import AgentName, FindingsEvent, agent_event_adapter
from aether.agents.planning import plan_analysis
from aether.analysis.findings import Evidence, Finding, Metric
from aether.analysis.registry import run_analysis
from aether.data.demo import generate_demo_household
from aether.data.slicing import slice_household
from aether.llm.formatting import (
    format_clock,
    format_period,
    format_quantity,
    hour_profile_text,
    humanize_name,
)
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
LABEL = "last week (3 Mar 2025–9 Mar 2025)"
"""A window label as the planner writes it; the analysts repeat it in every summary."""
NAMES = {
    "sensor.house_energy": "House energy meter",
    "sensor.house_power": "House power",
    "sensor.heat_pump_power": "Heat pump",
    "sensor.ev_charger_power": "EV charger",
    "light.garden": "Garden light",
    "switch.coffee_machine": "Coffee machine",
}


def finding(**fields: object) -> Finding:
    values: dict[str, object] = {
        "analyst": "energy",
        "confidence": 0.95,
        "period_start": START,
        "period_end": END,
    }
    values.update(fields)
    return Finding.model_validate(values)


def total() -> Finding:
    return finding(
        kind="consumption_total",
        title="Total consumption",
        summary=f"{LABEL} you used 84.3 kWh",
        importance=0.9,
        metrics=[
            Metric(name="total_kwh", value=84.2731, unit="kWh", entity_id="sensor.house_energy"),
            Metric(name="daily_average_kwh", value=12.0390, unit="kWh/day"),
        ],
        entities=["sensor.house_energy"],
    )


def baseload() -> Finding:
    return finding(
        kind="baseload",
        title="Baseload",
        summary=f"Your always-on baseload in {LABEL} is about 182 W.",
        confidence=0.8,
        importance=0.8,
        metrics=[
            Metric(name="baseload_w", value=182.44, unit="W"),
            Metric(name="share_of_total", value=36.43, unit="%"),
        ],
        entities=["sensor.house_power"],
    )


def peak() -> Finding:
    return finding(
        kind="peak_power",
        title="Peak demand",
        summary=f"Peak demand in {LABEL} was 7,450 W on Thursday evening.",
        confidence=0.9,
        importance=0.6,
        metrics=[
            Metric(
                name="peak_w", value=7450.2, unit="W", at=datetime(2025, 3, 6, 17, 15, tzinfo=UTC)
            )
        ],
        entities=["sensor.house_power"],
    )


def top_consumers() -> Finding:
    return finding(
        kind="top_consumers",
        title="Top consumers",
        summary=f"The biggest consumers in {LABEL} were Heat pump and EV charger.",
        confidence=0.94,
        importance=0.7,
        metrics=[
            Metric(name="energy", value=67.501, unit="kWh", entity_id="sensor.heat_pump_power"),
            Metric(name="share", value=38.4, unit="%", entity_id="sensor.heat_pump_power"),
            Metric(name="energy", value=50.894, unit="kWh", entity_id="sensor.ev_charger_power"),
            Metric(name="share", value=28.9, unit="%", entity_id="sensor.ev_charger_power"),
            Metric(name="unmetered", value=33.183, unit="kWh"),
        ],
        entities=["sensor.heat_pump_power", "sensor.ev_charger_power"],
    )


def daily() -> Finding:
    days = [date(2025, 3, 3) + timedelta(days=i) for i in range(3)]
    return finding(
        kind="daily_consumption",
        title="Daily consumption",
        summary=f"Daily consumption in {LABEL} ranged from 10.0 kWh to 14.0 kWh.",
        importance=0.5,
        metrics=[
            Metric(
                name=day.isoformat(),
                value=value,
                unit="kWh",
                # The local midnight the day starts at: in UTC the evening before.
                at=datetime.combine(day, datetime.min.time(), BERLIN).astimezone(UTC),
            )
            for day, value in zip(days, (12.04, 10.0, 14.0), strict=True)
        ],
        entities=["sensor.house_energy"],
    )


def hourly() -> Finding:
    profile = [0.4] * 24
    profile[3] = 0.1
    profile[18], profile[19] = 3.0, 2.6
    return finding(
        kind="hourly_profile",
        title="Hourly profile",
        summary=f"In {LABEL} your consumption was highest at 18:00–19:00.",
        importance=0.45,
        metrics=[Metric(name=f"hour_{h:02d}", value=v, unit="kWh") for h, v in enumerate(profile)],
        entities=["sensor.house_energy"],
    )


def coffee_routine() -> Finding:
    return finding(
        analyst="behavioral",
        kind="recurring_action",
        title="Recurring manual action",
        summary=(
            f"In {LABEL} Coffee machine was switched on around 07:02 on weekdays (5 of 5 days)."
        ),
        confidence=0.86,
        importance=0.42,
        metrics=[
            Metric(name="typical_time", value=7.033, unit="h", entity_id="switch.coffee_machine"),
            Metric(name="support_days", value=5, unit="count", entity_id="switch.coffee_machine"),
            Metric(name="eligible_days", value=5, unit="count", entity_id="switch.coffee_machine"),
        ],
        entities=["switch.coffee_machine"],
    )


def garden_routine() -> Finding:
    return finding(
        analyst="behavioral",
        kind="recurring_action",
        title="Recurring manual action",
        summary=f"In {LABEL} Garden light was switched on around 16:29 on every day (4 of 7 days).",
        confidence=0.45,
        importance=0.41,
        metrics=[
            Metric(name="typical_time", value=16.484, unit="h", entity_id="light.garden"),
            Metric(name="support_days", value=4, unit="count", entity_id="light.garden"),
            Metric(name="eligible_days", value=7, unit="count", entity_id="light.garden"),
        ],
        entities=["light.garden"],
    )


def unavailable() -> Finding:
    return finding(
        analyst="diagnostic",
        kind="unavailable",
        title="Unavailable sensor",
        summary=(
            f"Heat pump (sensor.heat_pump_power) was unavailable or unknown for 6.0 h in {LABEL}."
        ),
        importance=0.6,
        metrics=[
            Metric(name="unavailable_time", value=6.0, unit="h", entity_id="sensor.heat_pump_power")
        ],
        entities=["sensor.heat_pump_power"],
    )


def gap() -> Finding:
    return finding(
        analyst="diagnostic",
        kind="gap",
        title="Data gap",
        summary="The outdoor sensor reported nothing for 6.5 h",
        confidence=0.9,
        importance=0.7,
        metrics=[Metric(name="gap_time", value=6.5, unit="h", entity_id="sensor.outdoor")],
        entities=["sensor.outdoor"],
        period_start=datetime(2025, 3, 4, 1, tzinfo=UTC),
        period_end=datetime(2025, 3, 4, 7, 30, tzinfo=UTC),
    )


def dishwasher() -> Finding:
    return finding(
        analyst="behavioral",
        kind="dishwasher_runs",
        title="Evening dishwasher",
        summary="The dishwasher runs most weekdays around 21:00.",
        confidence=0.45,
        importance=0.4,
        metrics=[Metric(name="occurrences", value=5, unit="count")],
        entities=["switch.dishwasher"],
        evidence=[Evidence(description="Only 7 days of history")],
    )


def everything() -> list[Finding]:
    return [
        dishwasher(),
        peak(),
        gap(),
        baseload(),
        total(),
        top_consumers(),
        daily(),
        hourly(),
        coffee_routine(),
        garden_routine(),
        unavailable(),
    ]


def answer(question: str, findings: list[Finding] | None = None, label: str | None = LABEL) -> str:
    chosen = everything() if findings is None else findings
    return write_answer(question, chosen, label, entity_names=NAMES, tz=BERLIN)


def section(text: str, heading: str) -> str:
    return text.split(heading, 1)[1].split("\n\n", 1)[0]


def bullet(text: str, title: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"- **{title}**"))


def test_direct_answer_comes_first_and_answers_exactly_what_was_asked() -> None:
    text = answer("How much did I use last week, and what is my baseload?")
    opening = text.split("\n\n")[0]
    assert opening.startswith("Last week (3–9 Mar 2025) you used 84.3 kWh.")
    assert "182 W" in opening
    assert "7,450" not in opening
    assert "Heat pump" not in opening


def test_direct_answer_follows_the_topic_asked() -> None:
    opening = answer("When was my peak?").split("\n\n")[0]
    assert "Peak demand in last week (3–9 Mar 2025) was 7,450 W" in opening
    assert "84.3 kWh" not in opening


def test_direct_answer_is_about_the_devices_named() -> None:
    opening = answer("When do I switch on the lights?").split("\n\n")[0]
    assert "Garden light was switched on around 16:29" in opening
    assert "Coffee machine" not in opening


def test_an_overview_leads_with_the_highlights() -> None:
    opening = answer("Analyze my energy usage").split("\n\n")[0]
    assert "84.3 kWh" in opening
    assert "182 W" in opening
    assert "biggest consumers" in opening


def test_window_label_is_said_once_then_referred_back_to() -> None:
    text = answer("Tell me about my energy")
    assert "3 Mar 2025–9 Mar 2025" not in text  # compact dates, and never the label again
    assert text.count("(3–9 Mar 2025)") == 2  # the opening sentence and the heading
    assert text.startswith("Last week (3–9 Mar 2025) you used")
    assert "**Key figures — last week (3–9 Mar 2025)**" in text
    assert "Your always-on baseload in that week is about 182 W." in text
    assert "was unavailable or unknown for 6.0 h in that week." in text
    # "In <window> X was ..." drops the window once the reader knows it.
    text = answer("When do I switch on the coffee machine and the garden lights?")
    assert "Garden light was switched on around 16:29" in text.split("\n\n")[0]
    assert "In that week" not in text


def test_a_label_without_dates_keeps_the_dates_the_analysts_added() -> None:
    rolling = "the last 24 hours"
    first = total().model_copy(update={"summary": "In the last 24 hours (3–4 Mar) you used 9 kWh."})
    second = baseload().model_copy(
        update={"summary": "Baseload in the last 24 hours (3–4 Mar): 1 W"}
    )
    text = write_answer("How much did I use, and my baseload?", [first, second], rolling, tz=BERLIN)
    assert text.startswith("In the last 24 hours (3–4 Mar) you used 9 kWh. Baseload in the period:")
    assert text.count("(3–4 Mar)") == 1


def test_answer_starts_with_a_capital_letter() -> None:
    lower = finding(kind="consumption_total", title="Total", summary="the house used 5.0 kWh.")
    text = write_answer("How much did I use?", [lower], None, tz=BERLIN)
    assert text.startswith("**3–9 Mar 2025:** The house used 5.0 kWh.")
    text = write_answer("How much did I use?", [lower], "the last 7 days", tz=BERLIN)
    assert text.startswith("**The last 7 days:** The house used 5.0 kWh.")


def test_friendly_names_instead_of_entity_ids() -> None:
    text = answer("Which devices use the most?")
    assert "`sensor.heat_pump_power`" not in text
    assert "Heat pump" in text
    unnamed = write_answer("How much did I use?", [total(), top_consumers()], LABEL, tz=BERLIN)
    # No friendly name known: the entity id, as code.
    assert "`sensor.heat_pump_power` 67.5 kWh (38 %)" in unnamed


def test_per_device_metrics_read_as_one_list() -> None:
    figures = bullet(answer("How much did I use?"), "Top consumers")
    assert figures == (
        "- **Top consumers**: Heat pump 67.5 kWh (38 %), EV charger 50.9 kWh (29 %); "
        "unmetered 33.2 kWh"
    )


def test_days_read_as_weekday_and_date_without_a_moment() -> None:
    figures = bullet(answer("How much did I use?"), "Daily consumption")
    assert "Mon 3 Mar 12.0 kWh, Tue 4 Mar 10.0 kWh, Wed 5 Mar 14.0 kWh" in figures
    assert "2025 03" not in figures
    assert " at " not in figures
    assert "23:00" not in figures


def test_long_day_series_keep_only_the_extremes() -> None:
    days = [date(2025, 3, 1) + timedelta(days=i) for i in range(30)]
    long_series = daily().model_copy(
        update={
            "metrics": [
                Metric(name=d.isoformat(), value=10 + (i == 4) * 20 - (i == 7) * 5, unit="kWh")
                for i, d in enumerate(days)
            ]
        }
    )
    figures = bullet(answer("How much?", [total(), long_series]), "Daily consumption")
    assert "lowest Sat 8 Mar 5.0 kWh, highest Wed 5 Mar 30.0 kWh (30 days)" in figures


def test_hourly_profile_is_summarised() -> None:
    text = answer("How much did I use?", [total(), hourly()])
    assert bullet(text, "Hourly profile") == (
        "- **Hourly profile**: busiest 18:00–20:00 (2.8 kWh/h on average), "
        "quietest 03:00–04:00 (0.1 kWh/h) — House energy meter"
    )
    assert "hour 00" not in text
    assert "hour_00" not in text


def test_clock_times_and_days_of_recurring_actions() -> None:
    text = answer("How much did I use?", [total(), coffee_routine(), garden_routine()])
    assert bullet(text, "Recurring manual action") == (
        "- **Recurring manual action**: Coffee machine around 07:02 (on 5 of 5 days); "
        "Garden light around 16:29 (on 4 of 7 days, confidence only 45 %)"
    )
    assert "7.0 h" not in text
    assert "support" not in text


def test_moments_are_local_with_the_weekday() -> None:
    text = answer("How much did I use?", [total(), peak()])
    assert (
        bullet(text, "Peak demand") == "- **Peak demand**: 7,450 W on Thu 6 Mar 18:15 — House power"
    )


def test_key_figures_do_not_repeat_the_direct_answer_and_are_few() -> None:
    text = answer("How much did I use last week, and what is my baseload?")
    figures = section(text, "**Key figures")
    titles = re.findall(r"^- \*\*(.+?)\*\*", figures, flags=re.MULTILINE)
    assert titles == [
        "Top consumers",
        "Peak demand",
        "Daily consumption",
        "Hourly profile",
        "Recurring manual action",
    ]


def test_key_figures_name_their_source_once() -> None:
    text = answer("How much did I use?", [total(), baseload(), peak()])
    assert bullet(text, "Baseload") == "- **Baseload**: 182 W; share of total 36 % — House power"
    assert bullet(text, "Peak demand") == "- **Peak demand**: 7,450 W on Thu 6 Mar 18:15"


def test_diagnostic_caveats_come_after_the_figures() -> None:
    text = answer("How much did I use?")
    caveats = section(text, "**Data quality**\n")
    assert "- **Data gap**: The outdoor sensor reported nothing for 6.5 h." in caveats
    assert "(4 Mar 2025, 02:00–08:30)" in caveats
    assert "Data gap" not in text.split("**Data quality**")[0]


def test_confidence_is_stated_once_with_the_reason() -> None:
    text = answer("How much did I use last week, and what is my baseload?")
    assert text.count("Confidence") == 1
    assert text.endswith(
        "Confidence: high (80 %); Heat pump was unavailable for 6.0 h, so its figures are "
        "slightly low."
    )
    assert "confidence only" not in text.split("\n\n")[0]


def test_confidence_names_problems_that_do_not_touch_the_figures() -> None:
    text = answer("What is my peak?", [peak(), total(), gap()])
    assert text.endswith(
        "Confidence: high (90 %); the sensor problems listed above do not affect these figures."
    )


def test_low_confidence_says_why() -> None:
    text = answer("When do I switch on the garden light?", [coffee_routine(), garden_routine()])
    assert text.endswith(
        "Confidence: low (45 %); the pattern of Garden light held on only 4 of 7 days."
    )


def test_confidence_without_diagnostics_rests_on_coverage() -> None:
    text = answer("How much did I use?", [total(), baseload()])
    assert text.endswith("Confidence: high (95 %); the readings cover the period.")


def test_sensor_check_opens_with_the_verdict() -> None:
    overview = finding(
        analyst="diagnostic",
        kind="quality_summary",
        title="Data quality",
        summary=f"Data quality in {LABEL}: 3 entities, 90 % usable coverage.",
        importance=0.5,
        metrics=[Metric(name="usable_coverage", value=90, unit="%")],
        entities=["sensor.heat_pump_power", "sensor.outdoor"],
    )
    text = answer("Are my sensors ok?", [gap(), unavailable(), overview])
    assert text.startswith(
        "Two sensors need attention in last week (3–9 Mar 2025): `sensor.outdoor` and Heat pump."
    )
    assert "Data quality in that week: 3 entities" in section(text, "**Data quality**\n")
    healthy = answer("Are my sensors ok?", [overview])
    assert healthy.startswith("I found no problems with your sensors in last week (3–9 Mar 2025).")


def test_period_comes_from_the_findings_when_there_is_no_label() -> None:
    text = answer("How much did I use?", label=None)
    assert "3–9 Mar 2025" in text


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


def test_the_demo_household_is_narrated_with_friendly_names() -> None:
    """From the source: the analysis result carries the names the entities have, they survive
    the trip between agents, and the answer uses them."""
    now = datetime(2026, 11, 25, 14, 7, tzinfo=UTC)
    params = plan_analysis("How much energy did I use last week?", now, "Europe/Berlin")
    data = slice_household(
        generate_demo_household(now, days=14), params.window_start, params.window_end
    )
    result = run_analysis("energy", data.frame, data.entities, params)
    assert result.entity_names["sensor.heat_pump_power"] == "Heat pump"

    event = FindingsEvent(
        agent=AgentName.ENERGY_ANALYST,
        findings=result.findings,
        confidence=result.confidence,
        entity_names=result.entity_names,
    )
    received = agent_event_adapter.validate_json(agent_event_adapter.dump_json(event))
    assert isinstance(received, FindingsEvent)
    assert received.entity_names == result.entity_names

    text = write_answer(
        "Which devices use the most?",
        received.findings,
        params.window_label,
        entity_names=received.entity_names,
        tz=BERLIN,
    )
    assert "`sensor." not in text
    assert re.search(r"Heat pump \d[\d,.]* kWh \(\d+ %\)", text)


def test_greeting_and_capabilities_offer_example_questions() -> None:
    for text in (write_greeting(), write_capabilities()):
        assert "Aether" in text or "What I can answer" in text
        assert "baseload" in text
        assert "- How much electricity did I use last week" in text
    assert "approve" in write_capabilities()


def test_findings_context_carries_every_figure_for_the_llm() -> None:
    findings = [dishwasher(), peak(), baseload(), total(), daily()]
    context = findings_context(findings, "last 7 days", entity_names=NAMES, tz=BERLIN)
    assert context.startswith("Analysis window: last 7 days\n")
    assert context.index("[1] Total consumption") < context.index("[2] Baseload")
    assert "total_kwh = 84.3 kWh [House energy meter]" in context
    assert "peak_w = 7,450 W at 6 Mar 2025 18:15" in context
    assert "Mon 3 Mar = 12.0 kWh;" in context  # a day, not its midnight in UTC
    assert "confidence 45 %" in context
    assert "Evidence: Only 7 days of history" in context
    assert "no data" in findings_context([]).lower()


def test_system_prompt_forbids_invented_numbers_and_asks_for_confidence() -> None:
    prompt = architect_system_prompt()
    assert "Never invent" in prompt
    assert "approve" in prompt
    assert "how confident" in prompt


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (84.2731, "kWh", "84.3 kWh"),
        (12345.67, "kWh", "12,345.7 kWh"),
        (182.44, "W", "182 W"),
        (7450.6, "W", "7,451 W"),
        (36.43, "%", "36 %"),
        (3.8, "%", "4 %"),
        (0.46, "%", "0.5 %"),
        (1.234, "kW", "1.23 kW"),
        (3.0, "count", "3"),
        (-0.01, "kWh", "0.0 kWh"),
        (0.1234, "EUR/kWh", "0.123 EUR/kWh"),
        (6.084, "h/day", "6.1 h/day"),
    ],
)
def test_format_quantity(value: float, unit: str, expected: str) -> None:
    assert format_quantity(value, unit) == expected


def test_humanize_name_drops_unit_suffixes() -> None:
    assert humanize_name("baseload_w", "W") == "baseload"
    assert humanize_name("daily_average_kwh", "kWh/day") == "daily average"
    assert humanize_name("peak", "W") == "peak"
    assert humanize_name("average_energy_per_day", "kWh/day") == "average energy"
    assert humanize_name("switch_on_count", "count") == "switch-ons"


def test_format_clock_and_hour_profile() -> None:
    assert format_clock(7.033) == "07:02"
    assert format_clock(23.999) == "00:00"
    night_owl = {h: 0.4 for h in range(24)}
    night_owl.update({23: 2.0, 0: 1.8, 12: 0.05, 13: 0.06})
    assert hour_profile_text(night_owl, "kWh") == (
        "busiest 23:00–01:00 (1.9 kWh/h on average), quietest 12:00–14:00 (0.1 kWh/h)"
    )
    # A flat profile: the quietest stretch stays a time of day, centred on the quietest hour.
    flat = {h: 0.2 for h in range(24)}
    flat.update({23: 2.0, 0: 1.8, 12: 0.05})
    assert hour_profile_text(flat, "kWh").endswith("quietest 09:00–15:00 (0.2 kWh/h)")


def test_format_period() -> None:
    assert format_period(START, END, BERLIN) == "3–9 Mar 2025"
    day_end = datetime(2025, 3, 3, 23, tzinfo=UTC)
    assert format_period(START, day_end, BERLIN) == "3 Mar 2025"
    late = datetime(2025, 4, 2, 22, tzinfo=UTC)
    assert format_period(START, late, BERLIN) == "3 Mar – 2 Apr 2025"


def artifact(name: str, media_type: str) -> Evidence:
    sha = hashlib.sha256(name.encode()).hexdigest()
    return Evidence(
        description=f"{name} ({media_type})",
        data={"artifact_id": sha, "name": name, "media_type": media_type},
    )


def test_the_answer_ends_with_links_to_the_jobs_charts_and_tables() -> None:
    chart, table = (
        artifact("daily_consumption.svg", "image/svg+xml"),
        artifact("metrics.csv", "text/csv"),
    )
    linked = [
        total().model_copy(update={"evidence": [chart, table]}),
        baseload().model_copy(update={"evidence": [chart, table]}),
    ]

    answer = write_answer("How much energy did I use last week?", linked, LABEL, tz=BERLIN)

    last = answer.splitlines()[-1]
    assert last == (
        "Charts and tables: "
        f"[daily_consumption.svg](/api/v1/artifacts/{chart.data['artifact_id']}), "
        f"[metrics.csv](/api/v1/artifacts/{table.data['artifact_id']})"
    )
    assert answer.startswith(
        write_answer(
            "How much energy did I use last week?", [total(), baseload()], LABEL, tz=BERLIN
        )
    )
    assert "Charts and tables" not in write_answer("energy?", [total()], LABEL, tz=BERLIN)
