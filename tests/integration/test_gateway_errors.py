"""Bad input gets a clear OpenAI-style error, never a 500; auth is enforced when keys are set."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.gateway_harness import RunningGateway, running_gateway

KEY = "test-key-123"
USER = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(
        tmp_path_factory.mktemp("errors"), api_keys=[KEY], max_request_bytes=4096
    ) as running:
        yield running


def post(gateway: RunningGateway, body: Any = None, **kwargs: Any) -> httpx.Response:
    with gateway.http() as http:
        return http.post("/api/v1/chat/completions", json=body, **kwargs)


def assert_error(response: httpx.Response, status: int, param: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    assert "Traceback" not in error["message"]
    if param is not None:
        assert error["param"] == param


def test_wrong_key_raises_authentication_error(gateway: RunningGateway) -> None:
    with pytest.raises(openai.AuthenticationError):
        gateway.openai(api_key="wrong").models.list()


def test_missing_key_is_401_and_x_api_key_works(gateway: RunningGateway) -> None:
    with httpx.Client(base_url=gateway.base_url) as http:
        assert_error(http.get("/api/v1/models"), 401)
        assert http.get("/api/v1/models", headers={"X-API-Key": KEY}).status_code == 200
        assert http.get("/health").status_code == 200  # probes stay public


def test_n_other_than_one_raises_bad_request(gateway: RunningGateway) -> None:
    with pytest.raises(openai.BadRequestError):
        gateway.openai().chat.completions.create(model="aether", messages=USER, n=2)


def test_no_messages_raises_bad_request(gateway: RunningGateway) -> None:
    with pytest.raises(openai.BadRequestError):
        gateway.openai().chat.completions.create(model="aether", messages=[])


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "aether", "messages": USER, "temperature": "hot"}, "temperature"),
        ({"model": "aether", "messages": "hello"}, "messages"),
        ({"model": "aether", "messages": [{"role": "wizard", "content": "x"}]}, None),
        ({"messages": USER}, "model"),
        ({"model": "aether", "messages": USER, "agent": "plumber"}, "agent"),
        ({"model": "aether", "messages": [{"role": "assistant", "content": "x"}]}, "messages"),
        ({"model": "aether", "messages": USER, "max_tokens": 0}, "max_tokens"),
    ],
)
def test_invalid_fields_are_400(gateway: RunningGateway, body: Any, param: str | None) -> None:
    assert_error(post(gateway, body), 400, param)


def test_image_content_is_refused_clearly(gateway: RunningGateway) -> None:
    content = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
    response = post(
        gateway, {"model": "aether", "messages": [{"role": "user", "content": content}]}
    )
    assert_error(response, 400)
    assert response.json()["error"]["code"] == "unsupported_content"


def test_malformed_json_is_400(gateway: RunningGateway) -> None:
    response = post(
        gateway,
        content=b'{"model": "aether", "messages": [',
        headers={"content-type": "application/json"},
    )
    assert_error(response, 400)
    assert response.json()["error"]["code"] == "invalid_json"


def test_unknown_model_is_404(gateway: RunningGateway) -> None:
    with pytest.raises(openai.NotFoundError):
        gateway.openai().chat.completions.create(model="gpt-99", messages=USER)


def test_unknown_conversation_is_404(gateway: RunningGateway) -> None:
    response = post(gateway, {"model": "aether", "messages": USER, "conversation_id": "nope"})
    assert_error(response, 404, "conversation_id")


def test_body_over_the_limit_is_413(gateway: RunningGateway) -> None:
    huge = [{"role": "user", "content": "x" * 10_000}]
    assert_error(post(gateway, {"model": "aether", "messages": huge}), 413)


def test_chunked_body_over_the_limit_is_413(gateway: RunningGateway) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "aether", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}]}'

    with gateway.http() as http:
        response = http.post(
            "/api/v1/chat/completions",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
    assert_error(response, 413)


def test_unknown_route_has_the_error_shape(gateway: RunningGateway) -> None:
    with gateway.http() as http:
        assert_error(http.get("/api/v1/nothing-here"), 404)
