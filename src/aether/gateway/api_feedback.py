"""`POST /api/v1/feedback`: a user's thumbs up or down, and a comment, on a run.

The feedback is stored first; with tracing on it is then logged on the run's MLflow trace as a
human `user_feedback` assessment (value true for up), so the trace shows what the user thought of
the answer. The trace is exported a moment after the run ends, so the lookup is retried for a
few seconds; feedback whose trace cannot be found stays stored (without `trace_id`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Final, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from aether.gateway.auth import require_api_key
from aether.gateway.dependencies import StoreDep
from aether.gateway.errors import ApiError
from aether.observability import tracing
from aether.store import Feedback, Rating, RunNotFoundError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_api_key)])

TRACE_LOOKUP_SECONDS: Final = 5.0
"""How long the trace of a run that just ended is looked for (its export is asynchronous)."""
TRACE_LOOKUP_INTERVAL_SECONDS: Final = 0.5
FEEDBACK_SOURCE: Final = "aether-api"
"""The assessment's source id: the public API has keys, not users."""


class FeedbackIn(BaseModel):
    run_id: str = Field(max_length=64)
    rating: Rating
    """`up` or `down`."""
    comment: str | None = Field(default=None, max_length=4000)


class FeedbackOut(BaseModel):
    id: str
    object: Literal["feedback"] = "feedback"
    run_id: str
    rating: Rating
    comment: str | None
    trace_id: str | None
    """The MLflow trace the feedback was logged on; null while tracing is off."""
    created_at: datetime


@router.post("/feedback", status_code=201)
async def post_feedback(body: FeedbackIn, store: StoreDep) -> FeedbackOut:
    comment = body.comment.strip() if body.comment and body.comment.strip() else None
    try:
        stored = await store.feedback.add(body.run_id, body.rating, comment)
    except RunNotFoundError:
        raise ApiError(
            404, f"Run {body.run_id!r} does not exist.", param="run_id", code="run_not_found"
        ) from None
    if tracing.enabled():
        trace_id = await _log_on_trace(stored)
        if trace_id is not None:
            await store.feedback.set_trace(stored.id, trace_id)
            stored = stored.model_copy(update={"trace_id": trace_id})
    return FeedbackOut.model_validate(stored, from_attributes=True)


async def _log_on_trace(feedback: Feedback) -> str | None:
    """The trace id the feedback was logged on, or None (logged as a warning)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TRACE_LOOKUP_SECONDS
    while True:
        try:
            trace_id = await asyncio.wait_for(
                asyncio.to_thread(
                    tracing.log_feedback,
                    feedback.run_id,
                    thumbs_up=feedback.rating is Rating.UP,
                    comment=feedback.comment,
                    user=FEEDBACK_SOURCE,
                ),
                max(deadline - loop.time(), TRACE_LOOKUP_INTERVAL_SECONDS),
            )
        except Exception as exc:  # MLflow down or slow: the feedback is stored all the same
            log.warning("feedback %s not logged to MLflow: %r", feedback.id, exc)
            return None
        if trace_id is not None:
            return trace_id
        if loop.time() >= deadline:
            log.warning("feedback %s: no trace found for run %s", feedback.id, feedback.run_id)
            return None
        await asyncio.sleep(TRACE_LOOKUP_INTERVAL_SECONDS)
