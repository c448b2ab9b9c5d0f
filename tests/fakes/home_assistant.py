"""A small but real Home Assistant for tests: FastAPI + uvicorn on a free loopback port, serving
a HouseholdData the way HA's recorder would hold it, over HA's documented REST and WebSocket APIs.

What it implements, with HA's semantics (homeassistant/components/history and recorder):

- every `/api/*` call needs `Authorization: Bearer <token>`, else 401 `401: Unauthorized`;
- `GET /api/`, `/api/config` (with `time_zone`), `/api/states`, `/api/states/<entity_id>` (404);
- `GET /api/history/period[/<start>]`: `filter_entity_id` (required, comma-separated),
  `end_time` (default start + 1 day), `minimal_response` (first state full, then only `state` and
  `last_changed`, repeated states dropped), `no_attributes` (else a `total` sensor's attributes
  carry its `last_reset` at each state), `significant_changes_only` (on unless `0`: a row whose
  state did not change, an update only, is left out), `skip_initial_state`
  (else each entity's last state before `start`, stamped `start`). States are those recorded
  strictly after `start` and strictly before `end`; only the last `keep_days` are kept (the
  recorder's purge), and unknown entities are silently absent, as in HA;
- WebSocket `/api/websocket`: `auth_required` -> `auth` -> `auth_ok` / `auth_invalid`; ids must
  increase; `recorder/list_statistic_ids` and `recorder/statistics_during_period` with
  `period: hour` (hourly long-term statistics of sensors with a state_class, over all the data:
  statistics are never purged). Times are epoch milliseconds, or ISO strings with
  `iso_statistics_times` as HA sent them before 2022.12.

- the automation editor's config API (homeassistant/components/config/automation.py, view.py):
  `GET /api/config/automation/config/<id>` (404 `Resource not found`), `POST` to create or
  replace (body validated: a mapping with `triggers` and `actions`, or their old singular
  spellings, else 400 `Message malformed: ...`; stored with `id` first, as HA writes
  automations.yaml; answers `{"result": "ok"}`, then reloads that automation, as HA's
  post-write hook does), `DELETE` (400 `Resource not found` for an unknown id, else removes and
  reloads); `POST /api/services/automation/reload` reloads them all and answers the list of
  changed states. Loaded automations are entities `automation.<slug of the alias>` in
  `/api/states`, with their config `id` among the attributes.

Knobs for failure tests: `delay_seconds` (every answer waits; provokes client timeouts).
Every REST path and WebSocket command is recorded in `requests`; every call of the config and
services APIs also in `config_requests` as `METHOD path`.

    fake = FakeHomeAssistant(household, now=NOW)
    with running_fake_home_assistant(fake) as url:
        ...
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.responses import Response

from aether.analysis.frames import timestamps_ns
from aether.analysis.schema import ENTITY_ID, LAST_RESET, STATE, EntityMeta
from aether.data.source import HouseholdData
from tests.servers import serve_in_thread

FAKE_TOKEN: Final = "fake-ha-token"
HA_VERSION: Final = "2025.1.0"
SIGNIFICANT_DOMAINS: Final = frozenset(
    {"climate", "device_tracker", "humidifier", "thermostat", "water_heater"}
)
NEED_ATTRIBUTE_DOMAINS: Final = frozenset(
    {"climate", "humidifier", "input_datetime", "thermostat", "water_heater"}
)
METER_CLASSES: Final = frozenset({"total", "total_increasing"})
ALL_STATISTIC_TYPES: Final = ("change", "last_reset", "max", "mean", "min", "state", "sum")
NS_PER_HOUR: Final = 3_600_000_000_000
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
AUTOMATION_KEY_ORDER: Final = (
    "alias",
    "description",
    "triggers",
    "trigger",
    "conditions",
    "condition",
    "actions",
    "action",
)
"""HA's `EditAutomationConfigView._write_value` writes `id`, then these, then the rest."""


def iso(ns: int) -> str:
    return (EPOCH + timedelta(microseconds=int(ns) // 1000)).isoformat()


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def to_ns(moment: datetime) -> int:
    return int(pd.Timestamp(moment).value)


@dataclass
class Recorded:
    """One entity's recorded states, in time order (HA orders by last_updated)."""

    meta: EntityMeta
    t: np.ndarray
    state: list[str]
    last_changed: np.ndarray
    """When the state last changed: equal to `t` unless the previous state was the same."""
    last_reset: list[str | None]
    """The `last_reset` attribute at each state (ISO, as HA serialises it), None when absent."""

    @classmethod
    def build(cls, meta: EntityMeta, frame: pd.DataFrame) -> Recorded:
        t = timestamps_ns(frame)
        order = np.argsort(t, kind="stable")
        t = t[order]
        states = [str(s) for s in frame[STATE].to_numpy()[order]]
        resets: list[str | None] = [None] * len(t)
        if LAST_RESET in frame.columns:
            stamps = pd.DatetimeIndex(pd.to_datetime(frame[LAST_RESET], utc=True))[order]
            resets = [None if pd.isna(r) else r.isoformat() for r in stamps]
        changed = t.copy()
        for i in range(1, len(t)):
            if states[i] == states[i - 1]:
                changed[i] = changed[i - 1]
        return cls(meta=meta, t=t, state=states, last_changed=changed, last_reset=resets)

    def numeric(self) -> tuple[np.ndarray, np.ndarray]:
        values = pd.to_numeric(pd.Series(self.state), errors="coerce").to_numpy(dtype=np.float64)
        keep = ~np.isnan(values)
        return self.t[keep], values[keep]


@dataclass
class FakeHomeAssistant:
    household: HouseholdData
    now: datetime
    token: str = FAKE_TOKEN
    keep_days: float = 10.0
    iso_statistics_times: bool = False
    delay_seconds: float = 0.0
    requests: list[str] = field(default_factory=list)
    config_requests: list[str] = field(default_factory=list)
    automations: dict[str, dict[str, Any]] = field(default_factory=dict)
    """automations.yaml: the stored configurations by id."""
    loaded: dict[str, dict[str, Any]] = field(default_factory=dict)
    """What the automation integration runs: the configurations as of the last reload."""
    reloads: int = 0
    recorded: dict[str, Recorded] = field(init=False)

    def __post_init__(self) -> None:
        frame = self.household.frame
        ids = sorted(set(self.household.entities) | set(frame[ENTITY_ID].astype(str)))
        self.recorded = {}
        for entity_id in ids:
            meta = self.household.entities.get(entity_id) or EntityMeta(
                entity_id=entity_id, friendly_name=entity_id
            )
            rows = frame[frame[ENTITY_ID] == entity_id]
            self.recorded[entity_id] = Recorded.build(meta, rows)

    @property
    def now_ns(self) -> int:
        return to_ns(self.now)

    @property
    def oldest_ns(self) -> int:
        """The oldest state the recorder still keeps."""
        return self.now_ns - int(self.keep_days * 24 * NS_PER_HOUR)

    # --- REST ------------------------------------------------------------------------------

    def attributes(self, meta: EntityMeta) -> dict[str, Any]:
        attributes: dict[str, Any] = {"friendly_name": meta.friendly_name}
        if meta.unit is not None:
            attributes["unit_of_measurement"] = meta.unit
        if meta.device_class is not None:
            attributes["device_class"] = meta.device_class
        if meta.state_class is not None:
            attributes["state_class"] = meta.state_class
        return attributes

    def current_state(self, entity_id: str) -> dict[str, Any]:
        rec = self.recorded[entity_id]
        index = int(np.searchsorted(rec.t, self.now_ns, side="right")) - 1
        state, updated, changed = (
            (rec.state[index], int(rec.t[index]), int(rec.last_changed[index]))
            if index >= 0
            else ("unknown", self.now_ns, self.now_ns)
        )
        return {
            "entity_id": entity_id,
            "state": state,
            "attributes": self.attributes(rec.meta),
            "last_changed": iso(changed),
            "last_reported": iso(updated),
            "last_updated": iso(updated),
            "context": {"id": f"ctx-{entity_id}", "parent_id": None, "user_id": None},
        }

    def history(
        self,
        start_ns: int,
        end_ns: int,
        entity_ids: list[str],
        *,
        initial: bool,
        significant_only: bool,
        minimal: bool,
        no_attributes: bool,
    ) -> list[list[dict[str, Any]]]:
        answer: list[list[dict[str, Any]]] = []
        for entity_id in entity_ids:
            rec = self.recorded.get(entity_id)
            if rec is None:
                continue
            items = self._entity_history(
                rec, start_ns, end_ns, initial, significant_only, minimal, no_attributes
            )
            if items:
                answer.append(items)
        return answer

    def _entity_history(
        self,
        rec: Recorded,
        start_ns: int,
        end_ns: int,
        initial: bool,
        significant_only: bool,
        minimal: bool,
        no_attributes: bool,
    ) -> list[dict[str, Any]]:
        kept = rec.t >= self.oldest_ns
        inside = np.flatnonzero(kept & (rec.t > start_ns) & (rec.t < end_ns))
        domain = rec.meta.domain
        if significant_only and domain not in SIGNIFICANT_DOMAINS:
            inside = inside[rec.last_changed[inside] == rec.t[inside]]
        rows: list[tuple[str, int, int, int]] = []
        if initial and self.oldest_ns < start_ns:
            before = np.flatnonzero(kept & (rec.t < start_ns))
            if len(before):
                rows.append((rec.state[int(before[-1])], start_ns, start_ns, int(before[-1])))
        rows.extend((rec.state[i], int(rec.t[i]), int(rec.last_changed[i]), int(i)) for i in inside)

        def attributes(index: int) -> dict[str, Any]:
            """A `total` sensor's attributes carry its `last_reset` at that state, as in HA."""
            if no_attributes:
                return {}
            found = self.attributes(rec.meta)
            if rec.meta.state_class == "total":
                found["last_reset"] = rec.last_reset[index]
            return found

        def full(state: str, updated: int, changed: int, index: int) -> dict[str, Any]:
            return {
                "entity_id": rec.meta.entity_id,
                "state": state,
                "attributes": attributes(index),
                "last_changed": iso(changed if not significant_only else updated),
                "last_updated": iso(updated),
            }

        if not minimal or domain in NEED_ATTRIBUTE_DOMAINS or not rows:
            return [full(*row) for row in rows]
        items = [full(*rows[0])]
        previous = rows[0][0]
        for state, updated, _, _ in rows[1:]:
            if state != previous:
                items.append({"state": state, "last_changed": iso(updated)})
                previous = state
        return items

    # --- automations ----------------------------------------------------------------------

    def save_automation(self, config_id: str, config: dict[str, Any]) -> None:
        """Store as HA does: `id` first, then the known keys in order, then the rest."""
        stored: dict[str, Any] = {"id": config_id}
        stored.update({key: config[key] for key in AUTOMATION_KEY_ORDER if key in config})
        stored.update({key: value for key, value in config.items() if key != "id"})
        self.automations[config_id] = stored

    def reload_automations(self) -> list[dict[str, Any]]:
        """Load every stored automation; the states of those that changed."""
        self.reloads += 1
        before = self.loaded
        self.loaded = {key: dict(value) for key, value in self.automations.items()}
        changed = [key for key in self.loaded if before.get(key) != self.loaded[key]]
        return [self.automation_state(key) for key in changed]

    def automation_state(self, config_id: str) -> dict[str, Any]:
        config = self.loaded[config_id]
        alias = str(config.get("alias") or config_id)
        stamp = iso(self.now_ns)
        return {
            "entity_id": "automation." + (re.sub(r"[^a-z0-9]+", "_", alias.lower()).strip("_")),
            "state": "on",
            "attributes": {
                "id": config_id,
                "friendly_name": alias,
                "last_triggered": None,
                "mode": config.get("mode", "single"),
                "current": 0,
            },
            "last_changed": stamp,
            "last_reported": stamp,
            "last_updated": stamp,
            "context": {"id": f"ctx-automation-{config_id}", "parent_id": None, "user_id": None},
        }

    # --- long-term statistics --------------------------------------------------------------

    def statistic_ids(self) -> list[str]:
        return [
            entity_id
            for entity_id, rec in self.recorded.items()
            if rec.meta.state_class is not None and len(rec.numeric()[0])
        ]

    def list_statistic_ids(self, statistic_type: str | None) -> list[dict[str, Any]]:
        listed = []
        for entity_id in self.statistic_ids():
            meta = self.recorded[entity_id].meta
            has_sum = meta.state_class in METER_CLASSES
            if statistic_type == "sum" and not has_sum:
                continue
            if statistic_type == "mean" and has_sum:
                continue
            listed.append(
                {
                    "statistic_id": entity_id,
                    "display_unit_of_measurement": meta.unit,
                    "has_mean": not has_sum,
                    "has_sum": has_sum,
                    "mean_type": 0 if has_sum else 1,
                    "name": None,
                    "source": "recorder",
                    "statistics_unit_of_measurement": meta.unit,
                    "unit_class": meta.device_class,
                }
            )
        return listed

    def statistics(
        self, start_ns: int, end_ns: int, statistic_ids: list[str], types: set[str]
    ) -> dict[str, list[dict[str, Any]]]:
        available = set(self.statistic_ids())
        first_hour = -(-start_ns // NS_PER_HOUR) * NS_PER_HOUR
        hours = np.arange(first_hour, end_ns, NS_PER_HOUR, dtype=np.int64)
        result: dict[str, list[dict[str, Any]]] = {}
        for entity_id in statistic_ids:
            if entity_id not in available:
                continue
            rec = self.recorded[entity_id]
            if rec.meta.state_class in METER_CLASSES:
                rows = self._meter_hours(rec, hours, types)
            else:
                rows = self._mean_hours(rec, hours, types)
            if rows:
                result[entity_id] = rows
        return result

    def _time(self, ns: int) -> float | str:
        return iso(ns) if self.iso_statistics_times else int(ns) / 1_000_000

    def _meter_hours(
        self, rec: Recorded, hours: np.ndarray, types: set[str]
    ) -> list[dict[str, Any]]:
        """A meter's reading at each hour's end (the last before it) and HA's `sum`: every
        increase since the first reading, a decrease of a total_increasing meter being a reset
        to zero."""
        t, values = rec.numeric()
        steps = np.diff(values, prepend=values[:1])
        if rec.meta.state_class == "total_increasing":
            steps = np.where(steps < 0, values, steps)
        sums = np.cumsum(steps)
        rows = []
        for hour in hours:
            index = int(np.searchsorted(t, hour + NS_PER_HOUR, side="left")) - 1
            if index < 0:
                continue
            row: dict[str, Any] = {"start": self._time(hour), "end": self._time(hour + NS_PER_HOUR)}
            fields = {
                "state": float(values[index]),
                "sum": float(sums[index]),
                "last_reset": None,
                "mean": None,
                "min": None,
                "max": None,
            }
            row.update({k: v for k, v in fields.items() if k in types})
            rows.append(row)
        return rows

    def _mean_hours(
        self, rec: Recorded, hours: np.ndarray, types: set[str]
    ) -> list[dict[str, Any]]:
        """Time-weighted mean, min and max of the numeric states in effect in each hour (a state
        holds until the next; unavailable states are skipped, as HA's compiler does)."""
        t, values = rec.numeric()
        rows = []
        for hour in hours:
            end = hour + NS_PER_HOUR
            first = int(np.searchsorted(t, hour, side="right")) - 1
            last = int(np.searchsorted(t, end, side="left"))
            indices = range(max(first, 0), last)
            if not len(indices):
                continue
            begins = np.maximum(t[list(indices)], hour)
            ends = np.append(begins[1:], end)
            weights = (ends - begins).astype(np.float64)
            picked = values[list(indices)]
            if weights.sum() <= 0:
                continue
            fields = {
                "mean": float(np.dot(picked, weights) / weights.sum()),
                "min": float(picked.min()),
                "max": float(picked.max()),
                "state": None,
                "sum": None,
                "last_reset": None,
            }
            row: dict[str, Any] = {"start": self._time(hour), "end": self._time(end)}
            row.update({k: v for k, v in fields.items() if k in types})
            rows.append(row)
        return rows

    # --- the app ---------------------------------------------------------------------------

    def app(self) -> FastAPI:
        app = FastAPI()
        fake = self

        @app.middleware("http")
        async def bearer(request: Request, call_next: Any) -> Response:
            fake.requests.append(f"{request.url.path}?{request.url.query}")
            if request.headers.get("authorization") != f"Bearer {fake.token}":
                return PlainTextResponse("401: Unauthorized", status_code=401)
            if fake.delay_seconds:
                await asyncio.sleep(fake.delay_seconds)
            response: Response = await call_next(request)
            return response

        @app.get("/api/")
        async def running() -> dict[str, str]:
            return {"message": "API running."}

        @app.get("/api/config")
        async def config() -> dict[str, Any]:
            return {
                "components": ["history", "recorder", "websocket_api", "api"],
                "location_name": "Fake Home",
                "time_zone": fake.household.timezone,
                "unit_system": {"length": "km", "mass": "g", "temperature": "°C", "volume": "L"},
                "version": HA_VERSION,
                "state": "RUNNING",
            }

        @app.get("/api/states")
        async def states() -> list[dict[str, Any]]:
            automations = [fake.automation_state(config_id) for config_id in fake.loaded]
            return [fake.current_state(entity_id) for entity_id in fake.recorded] + automations

        @app.get("/api/config/automation/config/{config_id}")
        async def automation_config(config_id: str) -> Response:
            fake.config_requests.append(f"GET {config_id}")
            if config_id not in fake.automations:
                return JSONResponse({"message": "Resource not found"}, status_code=404)
            return JSONResponse(fake.automations[config_id])

        @app.post("/api/config/automation/config/{config_id}")
        async def save_automation(config_id: str, request: Request) -> Response:
            fake.config_requests.append(f"POST {config_id}")
            try:
                body = await request.json()
            except ValueError:
                return JSONResponse({"message": "Invalid JSON specified"}, status_code=400)
            problem = malformed(body)
            if problem is not None:
                return JSONResponse({"message": f"Message malformed: {problem}"}, status_code=400)
            fake.save_automation(config_id, body)
            fake.reload_automations()
            return JSONResponse({"result": "ok"})

        @app.delete("/api/config/automation/config/{config_id}")
        async def delete_automation(config_id: str) -> Response:
            fake.config_requests.append(f"DELETE {config_id}")
            if config_id not in fake.automations:
                return JSONResponse({"message": "Resource not found"}, status_code=400)
            del fake.automations[config_id]
            fake.reload_automations()
            return JSONResponse({"result": "ok"})

        @app.post("/api/services/automation/reload")
        async def reload_automations() -> list[dict[str, Any]]:
            fake.config_requests.append("POST automation.reload")
            return fake.reload_automations()

        @app.get("/api/states/{entity_id}")
        async def state(entity_id: str) -> Response:
            if entity_id not in fake.recorded:
                return JSONResponse({"message": "Entity not found."}, status_code=404)
            return JSONResponse(fake.current_state(entity_id))

        @app.get("/api/history/period")
        async def history_default(request: Request) -> Response:
            return fake._history_response(request, None)

        @app.get("/api/history/period/{start}")
        async def history(request: Request, start: str) -> Response:
            return fake._history_response(request, start)

        @app.websocket("/api/websocket")
        async def websocket(socket: WebSocket) -> None:
            await fake._websocket(socket)

        return app

    def _history_response(self, request: Request, start_text: str | None) -> Response:
        query = request.query_params
        now = self.now
        start = parse_time(start_text) if start_text is not None else now - timedelta(days=1)
        if start is None:
            return JSONResponse({"message": "Invalid datetime"}, status_code=400)
        if start > now:
            return JSONResponse([])
        end = start + timedelta(days=1)
        if end_text := query.get("end_time"):
            parsed = parse_time(end_text)
            if parsed is None:
                return JSONResponse({"message": "Invalid end_time"}, status_code=400)
            end = parsed
        ids_text = query.get("filter_entity_id")
        if not ids_text:
            return JSONResponse({"message": "filter_entity_id is missing"}, status_code=400)
        answer = self.history(
            to_ns(start),
            to_ns(end),
            ids_text.lower().split(","),
            initial="skip_initial_state" not in query,
            significant_only=query.get("significant_changes_only", "1") != "0",
            minimal="minimal_response" in query,
            no_attributes="no_attributes" in query,
        )
        return JSONResponse(answer)

    async def _websocket(self, socket: WebSocket) -> None:
        await socket.accept()
        await socket.send_json({"type": "auth_required", "ha_version": HA_VERSION})
        try:
            hello = await socket.receive_json()
            if hello.get("type") != "auth" or hello.get("access_token") != self.token:
                await socket.send_json(
                    {"type": "auth_invalid", "message": "Invalid access token or password"}
                )
                await socket.close()
                return
            await socket.send_json({"type": "auth_ok", "ha_version": HA_VERSION})
            last_id = 0
            while True:
                message = await socket.receive_json()
                message_id = message.get("id")
                self.requests.append(f"ws:{message.get('type')}")
                if self.delay_seconds:
                    await asyncio.sleep(self.delay_seconds)
                if not isinstance(message_id, int) or message_id <= last_id:
                    await socket.send_json(
                        error(message_id, "id_reuse", "Identifier values have to increase.")
                    )
                    continue
                last_id = message_id
                await socket.send_json(self._command(message_id, message))
        except WebSocketDisconnect:
            return

    def _command(self, message_id: int, message: dict[str, Any]) -> dict[str, Any]:
        kind = message.get("type")
        if kind == "ping":
            return {"id": message_id, "type": "pong"}
        if kind == "recorder/list_statistic_ids":
            return result(message_id, self.list_statistic_ids(message.get("statistic_type")))
        if kind == "recorder/statistics_during_period":
            start = parse_time(message.get("start_time"))
            if start is None:
                return error(message_id, "invalid_start_time", "Invalid start_time")
            end = parse_time(message.get("end_time")) if message.get("end_time") else self.now
            if end is None:
                return error(message_id, "invalid_end_time", "Invalid end_time")
            if message.get("period") != "hour":
                return error(message_id, "not_supported", "The fake serves hourly statistics only")
            types = set(message.get("types") or ALL_STATISTIC_TYPES)
            ids = list(message.get("statistic_ids") or self.statistic_ids())
            return result(message_id, self.statistics(to_ns(start), to_ns(end), ids, types))
        return error(message_id, "unknown_command", "Unknown command.")


def malformed(body: object) -> str | None:
    """What HA's automation schema says about a config body, or None if it passes."""
    if not isinstance(body, dict):
        return "expected a dictionary"
    for plural, singular in (("triggers", "trigger"), ("actions", "action")):
        if plural not in body and singular not in body:
            return f"required key not provided @ data['{plural}']"
        value = body.get(plural, body.get(singular))
        if not isinstance(value, list | dict) or not value:
            return f"expected a list @ data['{plural}']"
    return None


def result(message_id: int, value: object) -> dict[str, Any]:
    return {"id": message_id, "type": "result", "success": True, "result": value}


def error(message_id: object, code: str, message: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "result",
        "success": False,
        "error": {"code": code, "message": message},
    }


@contextmanager
def running_fake_home_assistant(fake: FakeHomeAssistant) -> Iterator[str]:
    """Yields the fake's base URL (`http://127.0.0.1:<port>`) while it serves."""
    with serve_in_thread(fake.app(), name="fake-home-assistant") as base_url:
        yield base_url
