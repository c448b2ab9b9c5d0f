"""Electricity tariffs: a flat price per kWh, or time-of-use bands by local time and weekday.

The `TARIFF` setting is JSON (the model below) or a compact text:

    0.32 EUR                                   flat: 0.32 EUR per kWh
    EUR 0.32                                   the same
    EUR 0.25@00-07,0.35@07-23,0.25@23-24       time-of-use, every day
    EUR 0.35@07-20/mon-fri,0.22                weekday daytime, else 0.22
    EUR 0.3@06:30-21:45/mon-fri+sat,0.2       minutes and day lists; 0.2 the rest of the week
    EUR 0.2@22-06,0.3                          a night band across midnight

A band is `PRICE[@HH[:MM]-HH[:MM]][/DAYS]`; DAYS are `mon`..`sun`, ranges (`mon-fri`) joined with
`+`. The first band that matches a quarter hour prices it, so a band without times or days is the
fallback for everything after it. Times are local, multiples of 15 minutes; every quarter hour of
the week must be priced.
"""

from __future__ import annotations

import json
import re
from typing import Final

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aether.analysis.units import FloatArray

DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
QUARTERS_PER_DAY: Final = 96
_CLOCK = re.compile(r"^(\d{1,2})(?::(\d{2}))?$")
_BAND = re.compile(
    r"^(?P<price>[0-9]*\.?[0-9]+)"
    r"(?:@(?P<start>[\d:]+)-(?P<end>[\d:]+))?"
    r"(?:/(?P<days>[a-z+\-]+))?$"
)
_CURRENCY = re.compile(r"^[A-Za-z]{3}$|^[€$£¥]$")


def _minutes(text: str) -> int:
    match = _CLOCK.match(text.strip())
    if match is None:
        raise ValueError(f"time {text!r} is not HH or HH:MM")
    minutes = int(match.group(1)) * 60 + int(match.group(2) or 0)
    if minutes > 1440 or minutes % 15:
        raise ValueError(f"time {text!r} must be a quarter hour between 00:00 and 24:00")
    return minutes


def _days(text: str) -> list[int]:
    days: list[int] = []
    for part in text.lower().split("+"):
        first, _, last = part.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise ValueError(f"days {text!r}: use mon..sun, ranges like mon-fri, joined with +")
        a, b = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        days += [d % 7 for d in range(a, b + 1 if b >= a else b + 8)]
    return sorted(set(days))


class TariffBand(BaseModel):
    """One price for some local times of some weekdays (all of them by default)."""

    model_config = ConfigDict(frozen=True)

    price: float = Field(ge=0)
    """Per kWh, in the tariff's currency."""
    start: str = "00:00"
    end: str = "24:00"
    """Local times; `end` before `start` runs across midnight (22:00-06:00)."""
    days: str = "mon-sun"

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        minutes = _minutes(value)
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    @field_validator("days")
    @classmethod
    def _weekdays(cls, value: str) -> str:
        _days(value)
        return value.lower()

    def mask(self) -> np.ndarray:
        """7 x 96 booleans: which local quarter hours of which weekdays the band covers."""
        a, b = _minutes(self.start) // 15, _minutes(self.end) // 15
        quarters = np.zeros(QUARTERS_PER_DAY, dtype=bool)
        if a < b:
            quarters[a:b] = True
        elif a > b or (a == b == 0):
            quarters[a:] = True
            quarters[:b] = True
        grid = np.zeros((7, QUARTERS_PER_DAY), dtype=bool)
        grid[_days(self.days)] = quarters
        return grid

    @property
    def label(self) -> str:
        when = "" if (self.start, self.end) == ("00:00", "24:00") else f" {self.start}–{self.end}"
        days = "" if self.days == "mon-sun" else f" {self.days}"
        return f"{self.price:g}/kWh{when}{days}".strip()


class Tariff(BaseModel):
    """What grid energy costs; `TARIFF` in the settings, `AnalysisParams.tariff` in a job."""

    model_config = ConfigDict(frozen=True)

    currency: str = Field(min_length=1, max_length=8)
    bands: list[TariffBand] = Field(min_length=1)

    @model_validator(mode="after")
    def _covers_the_week(self) -> Tariff:
        covered = np.zeros((7, QUARTERS_PER_DAY), dtype=bool)
        for band in self.bands:
            covered |= band.mask()
        if not covered.all():
            day, quarter = np.argwhere(~covered)[0]
            raise ValueError(
                f"no price for {DAY_NAMES[day]} {quarter // 4:02d}:{quarter % 4 * 15:02d}; "
                "add a band without times as the fallback"
            )
        return self

    @property
    def flat(self) -> bool:
        return len(set(self.price_grid().ravel().tolist())) == 1

    def price_grid(self) -> FloatArray:
        """Price per weekday (Monday = 0) x local quarter hour of the day; first band wins."""
        grid = np.full((7, QUARTERS_PER_DAY), np.nan)
        for band in self.bands:
            grid = np.where(np.isnan(grid) & band.mask(), band.price, grid)
        return np.asarray(grid, dtype=np.float64)

    def describe(self) -> str:
        if self.flat:
            return f"{self.bands[0].price:g} {self.currency}/kWh"
        return f"{self.currency} " + ", ".join(band.label for band in self.bands)

    @classmethod
    def parse(cls, text: str) -> Tariff:
        """JSON or the compact text (see the module docstring)."""
        text = text.strip()
        if text.startswith("{"):
            return cls.model_validate(json.loads(text))
        words = text.split()
        if len(words) != 2:
            raise ValueError("expected '<price> <currency>' or '<currency> <bands>'")
        currency, spec = (words[1], words[0]) if _CURRENCY.match(words[1]) else words
        if not _CURRENCY.match(currency):
            raise ValueError(f"currency {currency!r} is not a three-letter code or a symbol")
        return cls(currency=currency.upper(), bands=[_band(part) for part in spec.split(",")])


def _band(text: str) -> TariffBand:
    match = _BAND.match(text.strip().lower())
    if match is None:
        raise ValueError(f"band {text!r} is not PRICE[@HH[:MM]-HH[:MM]][/DAYS]")
    fields: dict[str, object] = {"price": float(match.group("price"))}
    if match.group("start"):
        fields |= {"start": match.group("start"), "end": match.group("end")}
    if match.group("days"):
        fields["days"] = match.group("days")
    return TariffBand.model_validate(fields)
