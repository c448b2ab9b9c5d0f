"""Home Assistant as a DataSource: what `load` returns is what the demo and the file sources
return for the same data (docs/data-sources.md explains each rule).

- Entities and their metadata come from `/api/states`; which are analysed from HA_ENTITIES or,
  without it, sensors with a state_class plus lights, switches, fans, climate and water heaters.
- The recent past comes from the history API in batches (HA_BATCH_ENTITIES entities and
  HA_BATCH_DAYS days per request), every state recorded, attributes left out, except for
  `total` sensors: their own batches ask for attributes, whose `last_reset` starts a new
  metering period that the readings alone cannot show.
- HA reports the state an entity had at a request's start stamped with that start, not with the
  time it was recorded, and it drops a state recorded exactly at the start. So the source asks
  from an hour earlier and, for entities silent in that hour, looks further back (a day, then
  the whole short history) until it finds when the previous state was really recorded.
- Ranges older than HA_HISTORY_DAYS (the recorder's purge_keep_days) come from the hourly
  long-term statistics of the WebSocket API, which exist only for sensors with a state_class.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from aether.analysis.frames import clip_frame, timestamps_ns
from aether.analysis.periods import to_ns
from aether.analysis.schema import ENTITY_ID, EntityMeta, empty_frame
from aether.data.errors import BAD_RESPONSE, UNKNOWN_ENTITY, DataSourceError
from aether.data.homeassistant.mapping import (
    STATISTIC_TYPES,
    entity_metas,
    history_frame,
    is_selected,
    statistics_frame,
    unit_factor,
)
from aether.data.homeassistant.rest import HomeAssistantRest, ha_time
from aether.data.homeassistant.websocket import HomeAssistantWebSocket
from aether.data.source import HouseholdData

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], datetime]

FIRST_LOOKBACK: Final = timedelta(hours=1)
FURTHER_LOOKBACKS: Final = (timedelta(days=1),)
"""After these, the last step looks back to the start of the short history."""
STATISTICS_SPAN: Final = timedelta(days=31)
STATISTICS_LEAD: Final = timedelta(hours=2)
"""Statistics are asked from two hours before the window, so its first hour has a reading
before it (a meter's reading sits at its hour's end)."""
CONCURRENT_REQUESTS: Final = 4
ONE_MICROSECOND: Final = timedelta(microseconds=1)
"""HA's end_time is exclusive; a batch that ends at the next batch's start asks 1 µs more, so a
state recorded exactly there is in one batch (the next starts after it)."""


@dataclass(frozen=True)
class HomeAssistantOptions:
    url: str
    token: str
    timeout_seconds: float = 30.0
    batch_entities: int = 10
    batch_days: float = 3.0
    history_days: int = 10
    entity_patterns: tuple[str, ...] = ()
    minimal_response: bool = False


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _spans(start: datetime, end: datetime, step: timedelta) -> list[tuple[datetime, datetime]]:
    edges = [start]
    while edges[-1] + step < end:
        edges.append(edges[-1] + step)
    return list(zip(edges, [*edges[1:], end], strict=True))


def _ceil_hour(moment: datetime) -> datetime:
    floored = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return floored if floored == moment else floored + timedelta(hours=1)


def _floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _concat(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    kept = [frame for frame in frames if len(frame)]
    return pd.concat(kept, ignore_index=True) if kept else empty_frame()


def _by_entity(frame: pd.DataFrame) -> pd.DataFrame:
    """Grouped by entity (as the other sources are), each entity's rows in the order HA sent."""
    return frame.sort_values(ENTITY_ID, kind="stable").reset_index(drop=True)


class HomeAssistantSource:
    """Reads one Home Assistant; keeps its HTTP pool open until `aclose`."""

    def __init__(self, options: HomeAssistantOptions, clock: Clock) -> None:
        self._options = options
        self._clock = clock
        self._rest = HomeAssistantRest(options.url, options.token, options.timeout_seconds)
        self._timezone: str | None = None
        self._limit = asyncio.Semaphore(CONCURRENT_REQUESTS)

    @property
    def url(self) -> str:
        return self._rest.base_url

    async def aclose(self) -> None:
        await self._rest.aclose()

    async def timezone(self) -> str:
        """HA's own time zone (`/api/config`), so that days are the household's days."""
        if self._timezone is None:
            zone = (await self._rest.config()).get("time_zone")
            try:
                ZoneInfo(str(zone))
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise DataSourceError(
                    BAD_RESPONSE, f"Home Assistant at {self.url} has an unknown time zone {zone!r}."
                ) from exc
            self._timezone = str(zone)
        return self._timezone

    async def entities(self) -> list[EntityMeta]:
        metas = entity_metas(await self._rest.states())
        return [m for m in metas.values() if is_selected(m, self._options.entity_patterns)]

    async def load(
        self, start: datetime, end: datetime, entity_ids: list[str] | None = None
    ) -> HouseholdData:
        """States in [start, end), plus the last state before `start` of each entity."""
        metas = entity_metas(await self._rest.states())
        timezone = await self.timezone()
        if entity_ids is None:
            ids = sorted(
                k for k, m in metas.items() if is_selected(m, self._options.entity_patterns)
            )
        else:
            ids = sorted(dict.fromkeys(entity_ids))
        frame = await self._fetch(ids, metas, start, end) if ids else empty_frame()
        present = set(frame[ENTITY_ID].astype(str).unique())
        missing = [i for i in ids if i not in metas and i not in present]
        if entity_ids is not None and missing:
            raise DataSourceError(
                UNKNOWN_ENTITY,
                f"Home Assistant at {self.url} has no entity {', '.join(missing)} "
                "(not in /api/states and no history).",
            )
        frame = clip_frame(_by_entity(frame), to_ns(start), to_ns(end))
        entities = {
            i: metas.get(i) or EntityMeta(entity_id=i, friendly_name=i)
            for i in ids
            if i in metas or i in present
        }
        return HouseholdData(frame=frame, entities=entities, timezone=timezone)

    def history_cutoff(self) -> datetime:
        """Where the short history begins; older ranges come from long-term statistics."""
        return _ceil_hour(self._clock() - timedelta(days=self._options.history_days))

    async def _fetch(
        self, ids: list[str], metas: dict[str, EntityMeta], start: datetime, end: datetime
    ) -> pd.DataFrame:
        cutoff = self.history_cutoff()
        totals = frozenset(i for i in ids if i in metas and metas[i].state_class == "total")
        if start >= cutoff:
            return await self._history(ids, start, end, totals)
        statistics, covered = await self._statistics(ids, metas, start, min(end, cutoff))
        if end <= cutoff:
            return statistics
        recent = await self._history(ids, cutoff, end, totals)
        # An entity with statistics takes them before the cutoff and its states from it on.
        cutoff_ns = to_ns(cutoff)
        recent_ts = timestamps_ns(recent)
        recent = recent[~(recent[ENTITY_ID].isin(covered).to_numpy() & (recent_ts < cutoff_ns))]
        statistics = statistics[timestamps_ns(statistics) < cutoff_ns]
        return _concat([statistics, recent])

    async def _history(
        self, ids: list[str], start: datetime, end: datetime, totals: frozenset[str]
    ) -> pd.DataFrame:
        """Every state of `ids` in [start, end) and the truly last one before `start`; `totals`
        (of `ids`) are asked with attributes for their `last_reset`."""
        marker = start - FIRST_LOOKBACK
        frame = await self._history_batches(ids, marker, end, totals)
        earliest = self._clock() - timedelta(days=self._options.history_days)
        lookbacks = [start - pad for pad in FURTHER_LOOKBACKS] + [earliest]
        for earlier in lookbacks:
            if earlier >= marker:
                continue
            unresolved = _stamped_at_marker(frame, marker, start)
            if not unresolved:
                break
            before = await self._history_batches(
                unresolved, earlier, marker + ONE_MICROSECOND, totals
            )
            answered = before[ENTITY_ID].unique()
            stale = frame[ENTITY_ID].isin(answered).to_numpy() & (
                timestamps_ns(frame) == to_ns(marker)
            )
            frame = _concat([before, frame[~stale]])
            marker = earlier
        return frame

    async def _history_batches(
        self, ids: list[str], start: datetime, end: datetime, totals: frozenset[str]
    ) -> pd.DataFrame:
        """`totals` get batches of their own with attributes, so that the other entities'
        answers stay small (attributes are most of an answer's size)."""
        spans = _spans(start, end, timedelta(days=self._options.batch_days))
        plain = [i for i in ids if i not in totals]
        with_attributes = [i for i in ids if i in totals]
        calls: list[Callable[[], Awaitable[Any]]] = []
        for group, attributes in ((plain, False), (with_attributes, True)):
            for chunk in _chunks(group, self._options.batch_entities):
                for index, (a, b) in enumerate(spans):
                    calls.append(self._history_call(chunk, a, b, index == 0, b == end, attributes))
        answers = await self._gather(calls)
        try:
            return _concat([history_frame(answer) for answer in answers])
        except ValueError as exc:
            raise DataSourceError(
                BAD_RESPONSE, f"Home Assistant at {self.url} sent an unexpected history: {exc}."
            ) from exc

    def _history_call(
        self,
        chunk: list[str],
        start: datetime,
        end: datetime,
        first: bool,
        last: bool,
        attributes: bool,
    ) -> Callable[[], Awaitable[Any]]:
        """One history request; with `attributes` never minimal, whose short items would lose
        the `last_reset` of every state after the first."""
        until = end if last else end + ONE_MICROSECOND
        minimal = self._options.minimal_response and not attributes

        async def call() -> Any:
            return await self._rest.history(
                start,
                until,
                chunk,
                initial_state=first,
                minimal_response=minimal,
                attributes=attributes,
            )

        return call

    async def _gather(self, calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        async def limited(call: Callable[[], Awaitable[T]]) -> T:
            async with self._limit:
                return await call()

        return list(await asyncio.gather(*(limited(call) for call in calls)))

    async def _statistics(
        self, ids: list[str], metas: dict[str, EntityMeta], start: datetime, end: datetime
    ) -> tuple[pd.DataFrame, list[str]]:
        """Hourly long-term statistics of `ids` over [start, end); also which ids have them."""
        options = self._options
        async with HomeAssistantWebSocket(
            options.url, options.token, options.timeout_seconds
        ) as session:
            listed = await session.command("recorder/list_statistic_ids")
            if not isinstance(listed, list):
                raise DataSourceError(
                    BAD_RESPONSE, f"Home Assistant at {self.url} listed statistics oddly."
                )
            info = {str(i.get("statistic_id")): i for i in listed if isinstance(i, dict)}
            factors = _factors(ids, info, metas)
            covered = sorted(factors)
            frames: list[pd.DataFrame] = []
            spans = _spans(_floor_hour(start - STATISTICS_LEAD), end, STATISTICS_SPAN)
            for chunk in _chunks(covered, options.batch_entities):
                for a, b in spans:
                    result = await session.command(
                        "recorder/statistics_during_period",
                        start_time=ha_time(a),
                        end_time=ha_time(b),
                        statistic_ids=chunk,
                        period="hour",
                        types=list(STATISTIC_TYPES),
                    )
                    if not isinstance(result, dict):
                        raise DataSourceError(
                            BAD_RESPONSE, f"Home Assistant at {self.url} sent odd statistics."
                        )
                    frames.append(statistics_frame(result, metas, factors))
        return _concat(frames), covered


def _factors(
    ids: Sequence[str], info: dict[str, dict[str, Any]], metas: dict[str, EntityMeta]
) -> dict[str, float]:
    """Unit factor per entity that has statistics HA can give in (or convert to) its unit."""
    factors: dict[str, float] = {}
    for entity_id in ids:
        if entity_id not in info:
            continue
        meta = metas.get(entity_id)
        unit = info[entity_id].get("statistics_unit_of_measurement")
        factor = unit_factor(unit, meta.unit if meta else unit)
        if factor is None:
            log.warning(
                "statistics of %s are in %s, the entity in %s: left out",
                entity_id,
                unit,
                meta.unit if meta else None,
            )
            continue
        factors[entity_id] = factor
    return factors


def _stamped_at_marker(frame: pd.DataFrame, marker: datetime, start: datetime) -> list[str]:
    """Entities whose only state before `start` is the one HA stamped with the request's start
    (`marker`): when that state was really recorded is still unknown."""
    if not len(frame):
        return []
    ts = timestamps_ns(frame)
    before = ts < to_ns(start)
    ids = frame[ENTITY_ID].astype(str).to_numpy()
    at_marker = set(ids[before & (ts == to_ns(marker))])
    real = set(ids[before & (ts > to_ns(marker))])
    return sorted(at_marker - real)
