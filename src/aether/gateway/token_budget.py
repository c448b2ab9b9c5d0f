"""Honours `max_tokens` for answers written without an LLM (an LLM gets the limit itself)."""

from __future__ import annotations

import re

from aether.llm.tokens import count_tokens

_WORDS = re.compile(r"\S+\s*|\s+")


class TokenBudget:
    """Lets text through until the limit; the piece that crosses it is cut at a word boundary."""

    def __init__(self, limit: int | None) -> None:
        self._left = limit

    def take(self, text: str) -> tuple[str, bool]:
        """The part of `text` that fits, and whether the budget is now spent."""
        if self._left is None:
            return text, False
        cost = count_tokens(text)
        if cost <= self._left:
            self._left -= cost
            return text, self._left == 0
        kept: list[str] = []
        for word in _WORDS.findall(text):
            word_cost = count_tokens(word)
            if word_cost > self._left:
                break
            kept.append(word)
            self._left -= word_cost
        self._left = 0
        return "".join(kept), True
