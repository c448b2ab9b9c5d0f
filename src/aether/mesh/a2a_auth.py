"""Service-to-service authentication on the A2A routes.

Every A2A route but the agent card requires `Authorization: Bearer <SERVICE_TOKEN>` (or one of
the API keys). A request without a valid credential gets 401 with an error in the shape of the
binding it called (a JSON-RPC error object on the JSON-RPC endpoint, the HTTP+JSON error object
elsewhere), never reaching the SDK. An accepted caller is named in the ASGI scope (`user`), which
the SDK's default context builder passes on, so tasks are owned by whoever created them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from a2a.server.jsonrpc_models import JSONRPCError
from a2a.server.request_handlers.response_helpers import build_error_response
from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
from starlette.authentication import AuthCredentials, SimpleUser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from aether.config import Settings

log = logging.getLogger(__name__)

JSONRPC_PATH = "/"
UNAUTHENTICATED_CODE = -32000
"""Implementation-defined JSON-RPC server error (A2A itself uses -32001..-32009)."""
SERVICE_CALLER = "service"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="aether"'}


class ServiceAuth:
    """Checks a Bearer credential against the accepted ones in constant time."""

    def __init__(self, service_token: str | None, api_keys: list[str]) -> None:
        self._accepted: list[tuple[bytes, str]] = []
        if service_token:
            self._accepted.append((service_token.encode(), SERVICE_CALLER))
        for key in api_keys:
            fingerprint = hashlib.sha256(key.encode()).hexdigest()[:12]
            self._accepted.append((key.encode(), f"api-key-{fingerprint}"))

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceAuth:
        token = settings.service_token.get_secret_value() if settings.service_token else None
        return cls(token, settings.api_keys)

    @property
    def enabled(self) -> bool:
        return bool(self._accepted)

    def caller(self, authorization: str | None) -> str | None:
        """Who presented this `Authorization` header, or None when it is missing or wrong."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        presented = token.strip().encode()
        found: str | None = None
        for credential, name in self._accepted:  # no early exit: compare against every one
            if hmac.compare_digest(presented, credential):
                found = name
        return found


class ServiceAuthMiddleware:
    """Pure ASGI, so streamed responses pass through untouched."""

    def __init__(self, app: ASGIApp, auth: ServiceAuth) -> None:
        self._app = app
        self._auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._auth.enabled:
            await self._app(scope, receive, send)
            return
        path = _route_path(scope)
        if path == AGENT_CARD_WELL_KNOWN_PATH:
            await self._app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"").decode("latin-1") or None
        caller = self._auth.caller(authorization)
        if caller is None:
            reason = "missing" if authorization is None else "invalid"
            log.warning("A2A %s %s refused: %s credential", scope["method"], path, reason)
            await _unauthenticated(path, reason)(scope, receive, send)
            return
        scope["user"] = SimpleUser(caller)
        scope["auth"] = AuthCredentials(["a2a"])
        await self._app(scope, receive, send)


def _unauthenticated(path: str, reason: str) -> JSONResponse:
    message = (
        f"Authentication required: the credential is {reason}. Send "
        "`Authorization: Bearer <SERVICE_TOKEN>` (or an API key)."
    )
    if path == JSONRPC_PATH:
        error = JSONRPCError(
            code=UNAUTHENTICATED_CODE, message=message, data={"reason": "UNAUTHENTICATED"}
        )
        body = build_error_response(None, error)
    else:
        body = {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": message}}
    return JSONResponse(body, status_code=401, headers=_CHALLENGE)


def _route_path(scope: Scope) -> str:
    """The path inside this app (a mount under the gateway puts its prefix in `root_path`)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path or "/"
