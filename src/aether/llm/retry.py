"""When and how long to wait before retrying an LLM call.

Retries are for transient trouble only: connection failures, 429 (rate limited) and 5xx. Any
other 4xx means the request itself is wrong, and repeating it would fail the same way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def is_retryable_status(status_code: int) -> bool:
    return status_code == 429 or status_code >= 500


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; a server's Retry-After wins, up to `retry_after_max`."""

    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_max: float = 30.0

    def delay(self, retry_number: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry `retry_number` (1 for the first retry)."""
        hinted = parse_retry_after(retry_after) if retry_after else None
        if hinted is not None:
            return min(hinted, self.retry_after_max)
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (retry_number - 1))
        # Jitter spreads out clients that failed together, so they do not retry in lockstep.
        return ceiling * random.uniform(0.5, 1.0)


def parse_retry_after(value: str) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if unreadable."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
