"""DATA_SOURCE -> the DataSource the analysts read, and the time zone their days follow.

- `demo`: the generated household in `<AETHER_DATA_DIR>/household` (regenerated when a day old);
- `files`: what `aether data import` wrote into `<AETHER_DATA_DIR>/imported`;
- `homeassistant`: the Home Assistant at HA_URL, read with HA_TOKEN.

The demo and the imports live in separate directories, so switching DATA_SOURCE never mixes
generated and real data. The time zone is Home Assistant's own with Home Assistant, else
HOUSEHOLD_TIMEZONE.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Final, Literal

from aether.config import Settings
from aether.data.demo import ensure_demo_household
from aether.data.errors import NOT_CONFIGURED, DataSourceError
from aether.data.homeassistant.source import HomeAssistantOptions, HomeAssistantSource
from aether.data.parquet_store import ParquetHouseholdSource
from aether.data.source import DataSource

log = logging.getLogger(__name__)

SourceKind = Literal["demo", "homeassistant", "files"]
Clock = Callable[[], datetime]

DEMO_DIR: Final = "household"
IMPORT_DIR: Final = "imported"
STARTUP_TIMEZONE_SECONDS: Final = 5.0
"""How long startup waits for Home Assistant's time zone before it uses HOUSEHOLD_TIMEZONE."""


def demo_dir(settings: Settings) -> Path:
    return settings.aether_data_dir.resolve() / DEMO_DIR


def import_dir(settings: Settings) -> Path:
    return settings.aether_data_dir.resolve() / IMPORT_DIR


def settings_problem(settings: Settings, kind: SourceKind | None = None) -> str | None:
    """One line naming what DATA_SOURCE lacks, or None when it can be used."""
    if (kind or settings.data_source) != "homeassistant":
        return None
    missing = [
        name
        for name, value in (("HA_URL", settings.ha_url), ("HA_TOKEN", settings.ha_token))
        if value is None
    ]
    if missing:
        return f"{' and '.join(missing)}: must be set when DATA_SOURCE=homeassistant"
    return None


def home_assistant_options(settings: Settings) -> HomeAssistantOptions:
    problem = settings_problem(settings, "homeassistant")
    if problem is not None or settings.ha_url is None or settings.ha_token is None:
        raise DataSourceError(NOT_CONFIGURED, problem or "Home Assistant is not configured")
    return HomeAssistantOptions(
        url=str(settings.ha_url).rstrip("/"),
        token=settings.ha_token.get_secret_value(),
        timeout_seconds=settings.ha_timeout_seconds,
        batch_entities=settings.ha_batch_entities,
        batch_days=settings.ha_batch_days,
        history_days=settings.ha_history_days,
        entity_patterns=tuple(settings.ha_entities),
        minimal_response=settings.ha_minimal_response,
    )


def build_source(settings: Settings, clock: Clock, kind: SourceKind | None = None) -> DataSource:
    """The source DATA_SOURCE (or `kind`) names. The demo's files must have been written
    (`prepare_source`); a Home Assistant source holds connections: close it (`open_source`)."""
    chosen = kind or settings.data_source
    if chosen == "homeassistant":
        return HomeAssistantSource(home_assistant_options(settings), clock)
    if chosen == "files":
        return ParquetHouseholdSource(import_dir(settings))
    return ParquetHouseholdSource(demo_dir(settings))


async def prepare_source(settings: Settings, clock: Clock, kind: SourceKind | None = None) -> None:
    """Write (or refresh) the demo household when the demo is the source."""
    if (kind or settings.data_source) != "demo":
        return
    directory = demo_dir(settings)
    wrote = await asyncio.to_thread(
        ensure_demo_household, directory, clock(), settings.demo_days, settings.household_timezone
    )
    if wrote:
        log.info("wrote the demo household (%d days) to %s", settings.demo_days, directory)


@asynccontextmanager
async def open_source(
    settings: Settings, clock: Clock, kind: SourceKind | None = None
) -> AsyncIterator[DataSource]:
    """The prepared source, closed on exit."""
    await prepare_source(settings, clock, kind)
    source = build_source(settings, clock, kind)
    try:
        yield source
    finally:
        if isinstance(source, HomeAssistantSource):
            await source.aclose()


async def source_timezone(source: DataSource, settings: Settings) -> str:
    """Home Assistant's time zone when it answers within a few seconds (a warning and
    HOUSEHOLD_TIMEZONE when not: startup must not hang on HA); HOUSEHOLD_TIMEZONE otherwise."""
    if not isinstance(source, HomeAssistantSource):
        return settings.household_timezone
    try:
        async with asyncio.timeout(STARTUP_TIMEZONE_SECONDS):
            zone = await source.timezone()
    except (DataSourceError, TimeoutError) as exc:
        log.warning(
            "Home Assistant's time zone is unknown (%s); using HOUSEHOLD_TIMEZONE=%s",
            exc or "no answer",
            settings.household_timezone,
        )
        return settings.household_timezone
    if zone != settings.household_timezone and settings.deployment_mode == "distributed":
        log.warning(
            "Home Assistant's time zone is %s but HOUSEHOLD_TIMEZONE=%s: the other services "
            "plan windows in HOUSEHOLD_TIMEZONE; set it to %s",
            zone,
            settings.household_timezone,
            zone,
        )
    return zone
