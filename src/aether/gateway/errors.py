"""Every error the public API returns has OpenAI's shape: {"error": {message, type, param, code}}.

Bad input is always a 4xx with a message that says what to fix; no traceback leaves the process.
A dependency that is down (the database, the next agent) is a 503 with `Retry-After`.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aether.gateway.openai_schema import ErrorBody, ErrorResponse, dump
from aether.store import DatabaseUnavailableError

log = logging.getLogger(__name__)

UNAVAILABLE_STATUS = 503
RETRY_AFTER_SECONDS = 5
"""What a 503 asks the client to wait: about how long a restarting service or database takes."""
DATABASE_UNAVAILABLE = "database_unavailable"
DATABASE_UNAVAILABLE_MESSAGE = "The database is unavailable; try again shortly."
GATEWAY_STOPPING = "gateway_stopping"
GATEWAY_STOPPING_MESSAGE = (
    "This gateway replica is stopping and cut the answer short; send the request again "
    "(with the same Idempotency-Key, if it had one) to get the whole answer."
)

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    """Raised anywhere in the gateway to answer with an OpenAI-style error."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers


def error_body(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> ErrorResponse:
    kind = _TYPE_BY_STATUS.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return ErrorResponse(error=ErrorBody(message=message, type=kind, param=param, code=code))


def error_response(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = error_body(status, message, param, code)
    return JSONResponse(dump(body), status_code=status, headers=headers)


def retry_after() -> dict[str, str]:
    """The headers of a 503: when to try again."""
    return {"Retry-After": str(RETRY_AFTER_SECONDS)}


def unavailable_response(
    message: str, code: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return error_response(
        UNAVAILABLE_STATUS, message, code=code, headers={**(headers or {}), **retry_after()}
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DatabaseUnavailableError, _database_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(
        exc.status, exc.message, param=exc.param, code=exc.code, headers=exc.headers
    )


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: %s", request.method, request.url.path, exc)
    return unavailable_response(DATABASE_UNAVAILABLE_MESSAGE, DATABASE_UNAVAILABLE)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first: dict[str, Any] = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return error_response(
            400, "The request body is not valid JSON.", code="invalid_json", param=None
        )
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = ".".join(location) or None
    message = str(first.get("msg", "Invalid request."))
    message = message.removeprefix("Value error, ")
    if param and not message.startswith(f"{param}:"):
        message = f"{param}: {message}"
    return error_response(400, message, param=param, code="invalid_value")


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return error_response(exc.status_code, message, code=HTTPStatus(exc.status_code).name.lower())


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "Internal error; it has been logged.", code="internal_error")
