"""Errors the repositories raise, so callers can map them to API responses."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of the store's own errors."""


class NotFoundError(StoreError, LookupError):
    """The record an operation needs does not exist (or was deleted meanwhile)."""

    def __init__(self, kind: str, record_id: str) -> None:
        super().__init__(f"{kind} {record_id!r} not found")
        self.record_id = record_id


class ConversationNotFoundError(NotFoundError):
    def __init__(self, conversation_id: str) -> None:
        super().__init__("conversation", conversation_id)


class RunNotFoundError(NotFoundError):
    def __init__(self, run_id: str) -> None:
        super().__init__("run", run_id)
