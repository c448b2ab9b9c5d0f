"""The offline token approximation: deterministic, whitespace-free, close to BPE for English."""

from __future__ import annotations

from aether.llm.messages import ChatMessage
from aether.llm.tokens import (
    REPLY_PRIMING_TOKENS,
    TOKENS_PER_MESSAGE,
    count_message_tokens,
    count_tokens,
)


def test_empty_text_has_no_tokens() -> None:
    assert count_tokens("") == 0
    assert count_tokens("  \n\t ") == 0


def test_words_and_punctuation_are_pieces() -> None:
    assert count_tokens("Hello, world!") == 4


def test_whitespace_is_free() -> None:
    assert count_tokens("use  the\n\ndata") == count_tokens("use the data") == 3


def test_long_words_count_one_token_per_four_letters() -> None:
    assert count_tokens("energy") == 1
    assert count_tokens("electricity") == 3
    assert count_tokens("supercalifragilistic") == 5


def test_numbers_count_one_token_per_three_digits() -> None:
    assert count_tokens("42") == 1
    assert count_tokens("1234567") == 3
    assert count_tokens("84.3 kWh") == 4


def test_other_scripts_count_per_character() -> None:
    assert count_tokens("Köln") == 3
    assert count_tokens("电力") == 2


def test_counts_add_up_over_concatenation() -> None:
    first, second = "Your baseload is 182 W.", "That is 4.4 kWh a day!"
    assert count_tokens(f"{first} {second}") == count_tokens(first) + count_tokens(second)


def test_english_prose_is_close_to_bpe_counts() -> None:
    text = (
        "Your household used 312.4 kWh in March, about ten percent less than in February. "
        "The baseload stayed around 180 W, mostly from the fridge, the router and the heat "
        "pump's standby. Peak demand reached 7,450 W on Thursday evening when the oven and "
        "the dishwasher ran at the same time."
    )
    # 50 words; splitting it by hand the way cl100k does gives about 66 tokens.
    assert 55 <= count_tokens(text) <= 80


def test_message_count_adds_framing_per_message() -> None:
    messages = [
        ChatMessage(role="system", content="You are Aether."),
        ChatMessage(role="user", content="How much did I use?"),
    ]
    content = sum(count_tokens(m.content) + count_tokens(m.role) for m in messages)
    expected = REPLY_PRIMING_TOKENS + 2 * TOKENS_PER_MESSAGE + content
    assert count_message_tokens(messages) == expected


def test_message_name_adds_tokens() -> None:
    plain = ChatMessage(role="user", content="hi")
    named = ChatMessage(role="user", content="hi", name="anna")
    assert count_message_tokens([named]) == count_message_tokens([plain]) + 2


def test_no_messages_still_primes_the_reply() -> None:
    assert count_message_tokens([]) == REPLY_PRIMING_TOKENS
