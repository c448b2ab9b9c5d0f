"""Language: the OpenAI-compatible LLM client, offline token counts and the offline writer."""

from aether.llm.client import LLMClient
from aether.llm.errors import (
    LLMConnectionError,
    LLMError,
    LLMResponseError,
    LLMStatusError,
    LLMTimeoutError,
)
from aether.llm.messages import ChatMessage, LLMCompletion, LLMDelta, LLMUsage
from aether.llm.offline_writer import (
    DataCoverage,
    write_answer,
    write_capabilities,
    write_greeting,
)
from aether.llm.prompts import architect_system_prompt, findings_context
from aether.llm.tokens import count_message_tokens, count_tokens

__all__ = [
    "ChatMessage",
    "DataCoverage",
    "LLMClient",
    "LLMCompletion",
    "LLMConnectionError",
    "LLMDelta",
    "LLMError",
    "LLMResponseError",
    "LLMStatusError",
    "LLMTimeoutError",
    "LLMUsage",
    "architect_system_prompt",
    "count_message_tokens",
    "count_tokens",
    "findings_context",
    "write_answer",
    "write_capabilities",
    "write_greeting",
]
