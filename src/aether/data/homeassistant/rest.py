"""A thin client of Home Assistant's REST API: the three read calls Aether needs, every failure
turned into a DataSourceError whose message says what to check.

Home Assistant documents the API at developers.home-assistant.io/docs/api/rest: a Bearer token on
every call, JSON answers, 401 for a bad token. The history call's flags are present-or-absent
query parameters (`minimal_response`, `no_attributes`, `skip_initial_state`), except
`significant_changes_only`, which is on unless given as `0`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

import httpx

from aether.data.errors import (
    BAD_RESPONSE,
    TIMEOUT,
    UNAUTHORIZED,
    UNREACHABLE,
    UPSTREAM_ERROR,
    DataSourceError,
)

HISTORY_PATH: Final = "/api/history/period/"


def ha_time(moment: datetime) -> str:
    """ISO 8601 in UTC with an explicit offset, as HA's `parse_datetime` expects."""
    return moment.astimezone(UTC).isoformat()


def ha_http_client(base_url: str, token: str, timeout_seconds: float) -> httpx.AsyncClient:
    """How every part of Aether talks HTTP to Home Assistant: its base URL and a long-lived
    access token as Bearer credentials."""
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=timeout_seconds,
    )


class HomeAssistantRest:
    """One HTTP connection pool to one Home Assistant; close it with `aclose`."""

    def __init__(self, base_url: str, token: str, timeout_seconds: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout_seconds
        self._client = ha_http_client(self.base_url, token, timeout_seconds)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def config(self) -> dict[str, Any]:
        """`GET /api/config`: the instance's configuration, with its `time_zone`."""
        answer = await self._get("/api/config", {})
        if not isinstance(answer, dict):
            raise self._bad("/api/config", "not a JSON object")
        return answer

    async def states(self) -> list[dict[str, Any]]:
        """`GET /api/states`: the current state of every entity, with its attributes."""
        answer = await self._get("/api/states", {})
        if not isinstance(answer, list):
            raise self._bad("/api/states", "not a JSON list")
        return [item for item in answer if isinstance(item, dict)]

    async def history(
        self,
        start: datetime,
        end: datetime,
        entity_ids: list[str],
        *,
        initial_state: bool,
        minimal_response: bool,
        attributes: bool = False,
    ) -> Any:
        """`GET /api/history/period/<start>`: states recorded after `start` and before `end`
        of `entity_ids`; with `initial_state`, HA adds each entity's state at `start` (the last
        one before it, stamped `start`). Attributes are asked for only with `attributes` (a `total`
        sensor's `last_reset` changes over time): `/api/states` has the rest, and they are big."""
        params: dict[str, str] = {
            "filter_entity_id": ",".join(entity_ids),
            "end_time": ha_time(end),
            "significant_changes_only": "0",
        }
        if not attributes:
            params["no_attributes"] = ""
        if minimal_response:
            params["minimal_response"] = ""
        if not initial_state:
            params["skip_initial_state"] = ""
        return await self._get(HISTORY_PATH + quote(ha_time(start), safe=""), params)

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        what = path.split("/api/", 1)[-1].split("/", 1)[0] or "api"
        try:
            response = await self._client.get(path, params=params)
        except httpx.TimeoutException as exc:
            raise DataSourceError(
                TIMEOUT,
                f"Home Assistant at {self.base_url} did not answer the {what} request within "
                f"{self._timeout:g} s (HA_TIMEOUT_SECONDS).",
            ) from exc
        except httpx.TransportError as exc:
            raise DataSourceError(
                UNREACHABLE,
                f"Cannot reach Home Assistant at {self.base_url} ({type(exc).__name__}: {exc}). "
                "Check HA_URL and that Home Assistant is running.",
            ) from exc
        if response.status_code in (401, 403):
            raise DataSourceError(
                UNAUTHORIZED,
                f"Home Assistant at {self.base_url} refused the access token "
                f"(HTTP {response.status_code}). Check HA_TOKEN: it must be a valid long-lived "
                "access token.",
            )
        if response.status_code != 200:
            raise DataSourceError(
                UPSTREAM_ERROR,
                f"Home Assistant at {self.base_url} answered HTTP {response.status_code} to the "
                f"{what} request: {_excerpt(response)}",
            )
        try:
            return response.json()
        except ValueError as exc:
            raise self._bad(path, "not JSON") from exc

    def _bad(self, path: str, why: str) -> DataSourceError:
        return DataSourceError(
            BAD_RESPONSE,
            f"Home Assistant at {self.base_url} sent an unexpected answer to {path}: {why}.",
        )


def _excerpt(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict) and "message" in body:
        body = body["message"]
    text = " ".join(str(body).split())
    return (text[:200] + "…") if len(text) > 200 else (text or response.reason_phrase)
