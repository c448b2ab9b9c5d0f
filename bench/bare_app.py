"""The baseline for the gateway benchmark: a bare FastAPI endpoint with the same response shape."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI

app = FastAPI()


@app.post("/api/v1/chat/completions")
async def chat(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bare",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "bare"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
