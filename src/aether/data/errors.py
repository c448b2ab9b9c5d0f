"""The one error every data source raises, so that callers handle one type and show one message.

A source fails for reasons outside Aether (Home Assistant down, a revoked token, a malformed
file); the analysts turn a DataSourceError into an error event a user can act on, never a crash.
"""

from __future__ import annotations

from typing import Final

NOT_CONFIGURED: Final = "not_configured"
UNAUTHORIZED: Final = "unauthorized"
TIMEOUT: Final = "timeout"
UNREACHABLE: Final = "unreachable"
UPSTREAM_ERROR: Final = "upstream_error"
BAD_RESPONSE: Final = "bad_response"
UNKNOWN_ENTITY: Final = "unknown_entity"
NO_DATA: Final = "no_data"
INVALID_FILE: Final = "invalid_file"


class DataSourceError(Exception):
    """A source could not deliver data. `code` is stable (the constants above); the message is
    one or two sentences safe to show a user: what failed, where, and what to check."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message
