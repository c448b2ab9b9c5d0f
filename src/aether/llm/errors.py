"""Typed errors of the LLM client; messages name the endpoint and never carry the API key."""

from __future__ import annotations


class LLMError(Exception):
    """An LLM call failed. `endpoint` is the URL called (credentials removed)."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status_code: int | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status_code = status_code
        self.attempts = attempts

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message} (after {self.attempts} attempts)" if self.attempts > 1 else message


class LLMTimeoutError(LLMError):
    """The server did not connect or answer within the configured timeout."""


class LLMConnectionError(LLMError):
    """The connection failed or was dropped before the answer was complete."""


class LLMStatusError(LLMError):
    """The server answered with an HTTP error status (`status_code` is set)."""


class LLMResponseError(LLMError):
    """The server answered 2xx but the body is not a valid chat completion."""
