"""Numbers and times as they appear in finding summaries: units always, local clock times."""

from __future__ import annotations

from datetime import date

from aether.analysis.periods import to_local


def kwh(value: float) -> str:
    return f"{value:,.1f} kWh" if abs(value) >= 0.05 or value == 0 else f"{value:.3f} kWh"


def watts(value: float) -> str:
    return f"{value:,.0f} W"


def kilowatts(value: float) -> str:
    return f"{value:,.2f} kW"


def hours(value: float) -> str:
    return f"{value:,.1f} h"


def percent(value: float) -> str:
    return f"{value:.0f} %" if value >= 1 or value == 0 else f"{value:.1f} %"


def day(value: date) -> str:
    return f"{value:%a} {value.day} {value:%b}"


def clock(minutes: float) -> str:
    whole = round(minutes) % 1440
    return f"{whole // 60:02d}:{whole % 60:02d}"


def moment(ns: int, timezone: str) -> str:
    local = to_local(ns, timezone)
    return f"{local:%a} {local.day} {local:%b} {local:%H:%M}"


def span(start_ns: int, end_ns: int, timezone: str) -> str:
    """`Tue 17 Nov 02:00–08:00`, or both ends in full when they fall on different days."""
    first, last = to_local(start_ns, timezone), to_local(end_ns, timezone)
    if first.date() == last.date():
        return f"{moment(start_ns, timezone)}–{last:%H:%M}"
    return f"{moment(start_ns, timezone)} – {moment(end_ns, timezone)}"


def date_range(start_ns: int, end_ns: int, timezone: str) -> str:
    """`16–22 Nov` for the local dates a window covers."""
    first = to_local(start_ns, timezone).date()
    last = to_local(max(end_ns - 1, start_ns), timezone).date()
    if first == last:
        return f"{first.day} {first:%b}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {last:%b}"
    if first.year == last.year:
        return f"{first.day} {first:%b}–{last.day} {last:%b}"
    return f"{first.day} {first:%b} {first.year}–{last.day} {last:%b} {last.year}"


def window_phrase(label: str, start_ns: int, end_ns: int, timezone: str) -> str:
    """The window's label with its dates, unless the label already carries them."""
    label = label.strip() or "the selected period"
    if "(" in label:
        return label
    return f"{label} ({date_range(start_ns, end_ns, timezone)})"


def capitalised(text: str) -> str:
    """Sentence case, except when the sentence opens with an entity id (`light.garden ...`)."""
    first = text.split(" ", 1)[0]
    if "." in first.rstrip(".,:;") and first[:1].islower():
        return text
    return text[:1].upper() + text[1:]


def money(value: float, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def price(value: float, currency: str) -> str:
    return f"{value:.3f} {currency}/kWh"


def signed_percent(value: float) -> str:
    return f"{'+' if value > 0 else '−' if value < 0 else '±'}{abs(value):.0f} %"
