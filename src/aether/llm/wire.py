"""Pydantic models of the OpenAI chat-completions wire format (only the fields Aether uses).

Unknown fields are ignored so that servers adding extras (OpenRouter, vLLM, Ollama) still parse.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from aether.llm.messages import ChatMessage


class ResponseFormat(BaseModel):
    type: Literal["json_object", "text"]


class StreamOptions(BaseModel):
    include_usage: bool


class ChatCompletionRequest(BaseModel):
    model: str
    messages: list[ChatMessage]
    stream: bool = False
    temperature: float | None = None
    max_tokens: int | None = None
    response_format: ResponseFormat | None = None
    stream_options: StreamOptions | None = None

    def payload(self) -> dict[str, Any]:
        """The JSON body: unset options are left out, as some servers reject explicit nulls."""
        return self.model_dump(mode="json", exclude_none=True)


class WireUsage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class WireMessage(BaseModel):
    content: str | None = None


class WireChoice(BaseModel):
    index: int = 0
    message: WireMessage
    finish_reason: str | None = None


class ChatCompletionResponse(BaseModel):
    model: str | None = None
    choices: list[WireChoice]
    usage: WireUsage | None = None


class WireDelta(BaseModel):
    content: str | None = None


class WireChunkChoice(BaseModel):
    index: int = 0
    delta: WireDelta = WireDelta()
    finish_reason: str | None = None


class ChatCompletionChunk(BaseModel):
    model: str | None = None
    choices: list[WireChunkChoice] = []
    usage: WireUsage | None = None


class WireErrorDetail(BaseModel):
    message: str = ""
    type: str | None = None
    code: str | int | None = None


class WireErrorBody(BaseModel):
    """`{"error": {...}}`, the error object of OpenAI-compatible servers (also sent mid-stream)."""

    error: WireErrorDetail | str
