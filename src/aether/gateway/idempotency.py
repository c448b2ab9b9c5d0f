"""`Idempotency-Key` on chat requests: a retried request gets the first one's result, never a
second run.

Keys are scoped to the caller (`aether.gateway.auth.caller_identity`) and bound, together with a
fingerprint of the request, to the run the first request opened, in the transaction that stores
its question (`aether.store.idempotency`). A retry with the same key and the same request waits
for that run to end, polling the database (the first request may be on another replica), and is
answered from what was stored; the same key with a different request is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Final

from aether.gateway.errors import ApiError
from aether.gateway.openai_schema import ChatCompletionRequest
from aether.store import Run, RunStatus, Store
from aether.store.idempotency import MAX_KEY_LENGTH, IdempotencyRecord

HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"
"""Set on answers replayed from an earlier request (Stripe's name)."""
REPLAY_WAIT_SECONDS: Final = 120.0
"""How long a retry waits for the first request's run to end before it is told to come back."""
REPLAY_POLL_SECONDS: Final = 0.25
IN_PROGRESS_RETRY_AFTER_SECONDS: Final = 5

# Fields that only choose how the answer is sent: a retry may change them and still get it.
_TRANSPORT_FIELDS: Final = frozenset({"stream", "stream_options"})


@dataclass(frozen=True)
class Duplicate:
    """A retry: the caller's key is bound to this earlier request's run."""

    record: IdempotencyRecord


def validated_key(value: str | None) -> str | None:
    """The key of a request (None: no header), or a 400 saying what is wrong with it."""
    if value is None:
        return None
    key = value.strip()
    if not key:
        raise ApiError(400, f"{HEADER} must not be empty.", param=HEADER, code="invalid_value")
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError(
            400,
            f"{HEADER} must be at most {MAX_KEY_LENGTH} characters long.",
            param=HEADER,
            code="invalid_value",
        )
    return key


def fingerprint(request: ChatCompletionRequest, conversation_id: str | None) -> str:
    """A digest of what the request asks for: its fields (unknown ones included) and the
    conversation it continues, but not whether the answer is streamed."""
    fields = request.model_dump(mode="json", exclude=set(_TRANSPORT_FIELDS))
    canonical = json.dumps(
        {"request": fields, "conversation_id": conversation_id},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def key_reused() -> ApiError:
    return ApiError(
        422,
        f"This {HEADER} was already used with a different request; "
        "use a new key for a new request.",
        param=HEADER,
        code="idempotency_key_reused",
    )


async def settled_run(
    store: Store,
    run_id: str,
    *,
    wait_seconds: float = REPLAY_WAIT_SECONDS,
    poll_seconds: float = REPLAY_POLL_SECONDS,
) -> Run:
    """The run once it has ended. Polls the database, so it sees a run of any replica; a run
    still going after `wait_seconds` is a 409 with `Retry-After`."""
    deadline = time.monotonic() + wait_seconds
    while True:
        run = await store.runs.get(run_id)
        if run is None:
            raise ApiError(
                409,
                f"The request that first used this {HEADER} was deleted with its "
                "conversation; use a new key.",
                param=HEADER,
                code="idempotency_key_in_use",
            )
        if run.status is not RunStatus.RUNNING:
            return run
        if time.monotonic() >= deadline:
            raise ApiError(
                409,
                f"A request with this {HEADER} is still being answered; "
                "retry later to get its result.",
                param=HEADER,
                code="idempotency_key_in_use",
                headers={"Retry-After": str(IN_PROGRESS_RETRY_AFTER_SECONDS)},
            )
        await asyncio.sleep(poll_seconds)
