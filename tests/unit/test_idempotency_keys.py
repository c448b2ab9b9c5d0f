"""What makes two chat requests "the same" for an `Idempotency-Key`, and which keys are valid."""

from __future__ import annotations

import pytest

from aether.gateway.errors import ApiError
from aether.gateway.idempotency import fingerprint, validated_key
from aether.gateway.openai_schema import ChatCompletionRequest


def request(**fields: object) -> ChatCompletionRequest:
    body: dict[str, object] = {"model": "aether", "messages": [{"role": "user", "content": "hi"}]}
    return ChatCompletionRequest.model_validate({**body, **fields})


def test_how_the_answer_is_sent_does_not_change_the_request() -> None:
    plain = fingerprint(request(), None)
    assert fingerprint(request(stream=True, stream_options={"include_usage": True}), None) == plain


@pytest.mark.parametrize(
    "changed",
    [
        {"messages": [{"role": "user", "content": "hello"}]},
        {"model": "aether-architect"},
        {"max_tokens": 10},
        {"temperature": 0.2},
        {"some_extension": True},
    ],
)
def test_any_other_field_does(changed: dict[str, object]) -> None:
    assert fingerprint(request(**changed), None) != fingerprint(request(), None)


def test_so_does_the_conversation_it_continues() -> None:
    assert fingerprint(request(), "c1") != fingerprint(request(), None)
    assert fingerprint(request(conversation_id="c1"), None) != fingerprint(request(), "c1")


def test_a_key_is_trimmed_and_may_be_255_characters_long() -> None:
    assert validated_key(None) is None
    assert validated_key(" abc ") == "abc"
    assert validated_key("k" * 255) == "k" * 255


@pytest.mark.parametrize("key", ["", "   ", "k" * 256])
def test_an_empty_or_longer_key_is_a_400(key: str) -> None:
    with pytest.raises(ApiError) as raised:
        validated_key(key)
    assert (raised.value.status, raised.value.param) == (400, "Idempotency-Key")
