"""API-key authentication for the public API: `Authorization: Bearer <key>` or `X-API-Key`."""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from fastapi import Request

from aether.gateway.errors import ApiError

ANONYMOUS: Final = "anonymous"
"""Who a request is when authentication is off."""


class ApiKeyAuth:
    """Checks a request's key against every configured key in constant time."""

    def __init__(self, keys: list[str]) -> None:
        self._keys = [key.encode() for key in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def check(self, request: Request) -> None:
        if not self._keys:
            return
        presented = _presented_key(request)
        if presented is None:
            raise ApiError(
                401,
                "Missing API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
                code="missing_api_key",
            )
        candidate = presented.encode()
        matches = [hmac.compare_digest(candidate, key) for key in self._keys]
        if not any(matches):
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


def caller_identity(request: Request) -> str:
    """Who sent the request, for audit trails: `api-key-<first 12 hex digits of the key's
    SHA-256>`, as the A2A services name their callers (the key itself is never stored), or
    `anonymous` while authentication is off."""
    auth: ApiKeyAuth = request.app.state.auth
    presented = _presented_key(request) if auth.enabled else None
    if presented is None:
        return ANONYMOUS
    return "api-key-" + hashlib.sha256(presented.encode()).hexdigest()[:12]


async def require_api_key(request: Request) -> None:
    """FastAPI dependency; the app keeps its ApiKeyAuth on `app.state.auth`."""
    auth: ApiKeyAuth = request.app.state.auth
    auth.check(request)
