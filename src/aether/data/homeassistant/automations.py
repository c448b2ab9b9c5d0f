"""Home Assistant's automation config API: how approved proposals are deployed and rolled back.

It is the API of Home Assistant's automation editor (homeassistant/components/config/
automation.py and view.py), which stores UI automations in `automations.yaml`:

- `GET /api/config/automation/config/<id>`: the stored configuration; 404 `Resource not found`;
- `POST /api/config/automation/config/<id>`: validates the body (400 `Message malformed: ...`),
  creates or replaces the automation with that id, and reloads it; answers `{"result": "ok"}`;
- `DELETE /api/config/automation/config/<id>`: removes it (400 `Resource not found` if there is
  none), then reloads;
- `POST /api/services/automation/reload`: reloads every automation from the file.

All of it needs an administrator's long-lived token (401 otherwise). A deployment reads what the
id held before (kept for rollback), writes the new configuration, and reloads; a rollback writes
the previous configuration back, or deletes the automation when there was none, and reloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import httpx

from aether.data.homeassistant.rest import ha_http_client

CONFIG_PATH: Final = "/api/config/automation/config/"
RELOAD_PATH: Final = "/api/services/automation/reload"
STATES_PATH: Final = "/api/states"


class AutomationError(Exception):
    """Home Assistant did not do what was asked; the message says what to check."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Deployment:
    config_id: str
    previous: dict[str, Any] | None
    """What the id held before; None when it held nothing."""
    url: str
    """The Home Assistant it went to."""


class HomeAssistantAutomations:
    """One HTTP connection pool to one Home Assistant; close it with `aclose`."""

    def __init__(self, base_url: str, token: str, timeout_seconds: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout_seconds
        self._client = ha_http_client(self.base_url, token, timeout_seconds)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(self, config_id: str) -> dict[str, Any] | None:
        """The automation stored under `config_id`, or None."""
        response = await self._send("GET", _config_path(config_id))
        if response.status_code == 404:
            return None
        body = self._json(_checked(response, self.base_url), "the automation's configuration")
        if not isinstance(body, dict):
            raise AutomationError("bad_response", f"{self.base_url} sent a config that is no map")
        return body

    async def save(self, config_id: str, config: Mapping[str, Any]) -> None:
        """Create or replace the automation `config_id` (Home Assistant reloads it)."""
        response = await self._send("POST", _config_path(config_id), json=dict(config))
        _checked(response, self.base_url)

    async def delete(self, config_id: str) -> None:
        """Remove the automation `config_id`; one that is already gone is no error."""
        response = await self._send("DELETE", _config_path(config_id))
        if response.status_code == 400 and "not found" in response.text.lower():
            return
        _checked(response, self.base_url)

    async def reload(self) -> None:
        """`automation.reload`: Home Assistant reads every automation again."""
        _checked(await self._send("POST", RELOAD_PATH, json={}), self.base_url)

    async def entity_ids(self) -> set[str]:
        """Every entity Home Assistant knows now (`GET /api/states`)."""
        body = self._json(
            _checked(await self._send("GET", STATES_PATH), self.base_url), "the states"
        )
        if not isinstance(body, list):
            raise AutomationError("bad_response", f"{self.base_url} sent states that are no list")
        return {str(item["entity_id"]) for item in body if isinstance(item, dict)}

    async def deploy(self, config: Mapping[str, Any]) -> Deployment:
        """Write `config` under its id, keeping what the id held before, and reload."""
        config_id = str(config["id"])
        previous = await self.get(config_id)
        await self.save(config_id, config)
        await self.reload()
        return Deployment(config_id=config_id, previous=previous, url=self.base_url)

    async def restore(self, config_id: str, previous: Mapping[str, Any] | None) -> None:
        """Put back what `config_id` held before a deployment (nothing: delete it), reload."""
        if previous is None:
            await self.delete(config_id)
        else:
            await self.save(config_id, previous)
        await self.reload()

    async def _send(
        self, method: str, path: str, *, json: dict[str, Any] | None = None
    ) -> httpx.Response:
        try:
            return await self._client.request(method, path, json=json)
        except httpx.TimeoutException as exc:
            raise AutomationError(
                "timeout",
                f"Home Assistant at {self.base_url} did not answer within {self._timeout:g} s "
                "(HA_TIMEOUT_SECONDS).",
            ) from exc
        except httpx.TransportError as exc:
            raise AutomationError(
                "unreachable",
                f"Cannot reach Home Assistant at {self.base_url} ({type(exc).__name__}). "
                "Check HA_URL and that Home Assistant is running.",
            ) from exc

    def _json(self, response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise AutomationError(
                "bad_response", f"{self.base_url} sent {what} that is not JSON"
            ) from exc


def _config_path(config_id: str) -> str:
    return CONFIG_PATH + quote(config_id, safe="")


def _checked(response: httpx.Response, base_url: str) -> httpx.Response:
    if response.status_code in (401, 403):
        raise AutomationError(
            "unauthorized",
            f"Home Assistant at {base_url} refused the token (HTTP {response.status_code}): "
            "changing automations needs HA_TOKEN of an administrator.",
        )
    if response.status_code == 400:
        raise AutomationError(
            "rejected", f"Home Assistant at {base_url} refused it: {_message(response)}"
        )
    if response.status_code >= 300:
        raise AutomationError(
            "upstream_error",
            f"Home Assistant at {base_url} answered HTTP {response.status_code}: "
            f"{_message(response)}",
        )
    return response


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict) and "message" in body:
        body = body["message"]
    text = " ".join(str(body).split())
    return (text[:200] + "…") if len(text) > 200 else (text or response.reason_phrase)
