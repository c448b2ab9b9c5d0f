"""The chat vocabulary shared by the LLM client, token counting and callers (architect, router)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Role = Literal["system", "user", "assistant", "tool"]


class ChatMessage(BaseModel):
    """One message of a conversation, as sent to an OpenAI-compatible endpoint."""

    model_config = ConfigDict(frozen=True)

    role: Role
    content: str
    name: str | None = None


class LLMUsage(BaseModel):
    """Token counts as reported by the server (or estimated, when `estimated` is set)."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class LLMCompletion(BaseModel):
    """The result of a non-streaming completion."""

    model_config = ConfigDict(frozen=True)

    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str
    finish_reason: str | None = None
    usage_estimated: bool = False
    """True when the server sent no usage and the counts come from `aether.llm.tokens`."""


class LLMDelta(BaseModel):
    """One item of a stream: a piece of text, or (last, text empty) the usage of the call."""

    model_config = ConfigDict(frozen=True)

    text: str = ""
    usage: LLMUsage | None = None
    model: str | None = None
    finish_reason: str | None = None
