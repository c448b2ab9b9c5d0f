"""Offline token counts, for usage figures when no LLM (and so no server-side count) is involved.

Method: the text is cut into pieces with one regular expression: runs of ASCII letters (words),
runs of digits, and every other non-space character on its own (punctuation, symbols, letters of
other scripts). Whitespace is free, as BPE tokenizers fold a leading space into the next token.
A word of up to 6 letters counts 1 token; a longer word counts one token per 4 letters (rounded
up); a number counts one token per 3 digits (as cl100k/o200k split digits); every other piece
counts 1. For English prose this is typically within 20% of OpenAI's BPE counts (it errs high
on long words). Deterministic, linear in the text length and free of downloads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Final, Protocol

_PIECES: Final = re.compile(r"[A-Za-z]+|[0-9]+|[^\sA-Za-z0-9]")
_SHORT_WORD: Final = 6
_CHARS_PER_LONG_WORD_TOKEN: Final = 4
_DIGITS_PER_TOKEN: Final = 3
TOKENS_PER_MESSAGE: Final = 3
"""Framing of each message (`<|start|>role ... <|end|>`), as in OpenAI's cookbook count."""
TOKENS_PER_NAME: Final = 1
REPLY_PRIMING_TOKENS: Final = 3
"""Every reply is primed with `<|start|>assistant<|message|>`."""


class MessageLike(Protocol):
    """Anything with a role and text content, e.g. `ChatMessage` or a gateway message model."""

    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str | None: ...


def count_tokens(text: str) -> int:
    """Approximate number of BPE tokens in `text` (see the module docstring for the method)."""
    total = 0
    for match in _PIECES.finditer(text):
        piece = match.group()
        if piece[0].isascii() and piece[0].isalpha():
            length = len(piece)
            total += 1 if length <= _SHORT_WORD else math.ceil(length / _CHARS_PER_LONG_WORD_TOKEN)
        elif piece[0].isascii() and piece[0].isdigit():
            total += math.ceil(len(piece) / _DIGITS_PER_TOKEN)
        else:
            total += 1
    return total


def count_message_tokens(messages: Iterable[MessageLike]) -> int:
    """Approximate prompt tokens of a chat request: content plus per-message framing."""
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += TOKENS_PER_MESSAGE + count_tokens(message.role)
        total += count_tokens(message.content or "")
        name = getattr(message, "name", None)
        if isinstance(name, str) and name:
            total += TOKENS_PER_NAME + count_tokens(name)
    return total
