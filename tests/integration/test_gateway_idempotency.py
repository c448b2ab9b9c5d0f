"""`Idempotency-Key` on chat completions: a retry gets the first request's result, never a second
run, also when it reaches another gateway replica."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from aether.gateway.errors import ApiError
from aether.gateway.idempotency import settled_run
from aether.store import Store
from tests.fakes.openai_server import FakeOpenAI, Reply, running_fake_openai
from tests.gateway_harness import RunningGateway, running_gateway
from tests.integration.conftest import DatabaseServer

QUESTION = "How much energy did I use last week, and what is my baseload?"
BODY: dict[str, Any] = {"model": "aether", "messages": [{"role": "user", "content": QUESTION}]}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(tmp_path_factory.mktemp("gateway")) as running:
        yield running


def post(gateway: RunningGateway, key: str | None, body: dict[str, Any]) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    with gateway.http() as http:
        return http.post("/api/v1/chat/completions", json=body, headers=headers)


def runs_of(gateway: RunningGateway, conversation_id: str) -> list[dict[str, Any]]:
    with gateway.http() as http:
        response = http.get("/api/v1/runs", params={"conversation_id": conversation_id})
    runs: list[dict[str, Any]] = response.json()["data"]
    return runs


def messages_of(gateway: RunningGateway, conversation_id: str) -> list[dict[str, Any]]:
    with gateway.http() as http:
        messages: list[dict[str, Any]] = http.get(
            f"/api/v1/conversations/{conversation_id}"
        ).json()["messages"]
    return messages


def test_a_retry_gets_the_same_completion_and_nothing_runs_twice(
    gateway: RunningGateway,
) -> None:
    first = post(gateway, "same-question-1", BODY)
    retry = post(gateway, "same-question-1", BODY)

    assert first.status_code == retry.status_code == 200, retry.text
    assert retry.json() == first.json()
    assert retry.headers["x-run-id"] == first.headers["x-run-id"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    conversation_id = first.headers["x-conversation-id"]
    assert len(runs_of(gateway, conversation_id)) == 1
    assert [m["role"] for m in messages_of(gateway, conversation_id)] == ["user", "assistant"]


def test_a_streamed_retry_replays_the_answer_as_a_valid_stream(gateway: RunningGateway) -> None:
    client = gateway.openai()
    headers = {"Idempotency-Key": "streamed-1"}

    def streamed() -> tuple[set[str], str, list[str | None], int | None]:
        chunks = list(
            client.chat.completions.create(
                model="aether",
                messages=[{"role": "user", "content": QUESTION}],
                stream=True,
                stream_options={"include_usage": True},
                extra_headers=headers,
            )
        )
        content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        reasons: list[str | None] = [c.choices[0].finish_reason for c in chunks if c.choices]
        usage = chunks[-1].usage.total_tokens if chunks[-1].usage else None
        return {c.id for c in chunks}, content, reasons, usage

    first_ids, first_text, _, first_usage = streamed()
    replay_ids, replay_text, replay_reasons, replay_usage = streamed()
    completion = client.chat.completions.create(
        model="aether", messages=[{"role": "user", "content": QUESTION}], extra_headers=headers
    )

    assert replay_ids == first_ids == {completion.id}
    assert replay_text == first_text == completion.choices[0].message.content
    assert "kWh" in replay_text
    assert replay_reasons[-1] == "stop"
    assert replay_usage == first_usage is not None


def test_the_same_key_with_another_request_is_refused(gateway: RunningGateway) -> None:
    assert post(gateway, "reused-1", BODY).status_code == 200
    other = {**BODY, "messages": [{"role": "user", "content": "What is my baseload?"}]}

    response = post(gateway, "reused-1", other)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert error["param"] == "Idempotency-Key"


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_an_empty_or_overlong_key_is_a_400(gateway: RunningGateway, key: str) -> None:
    response = post(gateway, key, BODY)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "Idempotency-Key"


def test_the_longest_key_is_accepted(gateway: RunningGateway) -> None:
    key = "k" * 255
    first, retry = post(gateway, key, BODY), post(gateway, key, BODY)

    assert first.status_code == 200
    assert retry.json()["id"] == first.json()["id"]


def test_keys_belong_to_their_caller(tmp_path: Path) -> None:
    with running_gateway(tmp_path, api_keys=["key-a", "key-b"]) as gateway:
        answers = []
        for api_key in ("key-a", "key-b"):
            with httpx.Client(base_url=gateway.base_url, timeout=60) as http:
                answers.append(
                    http.post(
                        "/api/v1/chat/completions",
                        json=BODY,
                        headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": "k1"},
                    )
                )

    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[0].headers["x-run-id"] != answers[1].headers["x-run-id"]


def test_a_failed_run_is_replayed_as_the_same_error(tmp_path: Path) -> None:
    with running_gateway(tmp_path, analysis_timeout_seconds=0.01) as gateway:
        first = post(gateway, "failing-1", BODY)
        retry = post(gateway, "failing-1", BODY)
        stream = gateway.openai().chat.completions.create(
            **BODY, stream=True, extra_headers={"Idempotency-Key": "failing-1"}
        )
        with pytest.raises(openai.APIError) as streamed:
            list(stream)
        runs = runs_of(gateway, first.headers["x-conversation-id"])

    assert first.status_code == retry.status_code == 502
    assert retry.json() == first.json()
    assert retry.headers["x-run-id"] == first.headers["x-run-id"]
    assert streamed.value.message == first.json()["error"]["message"]
    assert streamed.value.code == first.json()["error"]["code"]
    assert [run["status"] for run in runs] == ["failed"]


def test_concurrent_duplicates_on_two_replicas_share_one_run(
    tmp_path: Path, database_server: DatabaseServer
) -> None:
    """The first request is still running when its retry reaches the other replica, which waits
    for it through the shared database and answers with its result."""
    database_url = asyncio.run(database_server.create_database())
    fake = FakeOpenAI(responder=lambda _: Reply("Your baseload is 240 W.", delay_seconds=2))
    body = {"model": "aether-architect", "messages": [{"role": "user", "content": "hello"}]}
    with ExitStack() as stack:
        llm_url = stack.enter_context(running_fake_openai(fake))
        replicas = [
            stack.enter_context(
                running_gateway(tmp_path / name, database_url=database_url, llm_base_url=llm_url)
            )
            for name in ("a", "b")
        ]
        start = threading.Barrier(len(replicas))
        answers: dict[int, httpx.Response] = {}

        def send(index: int) -> None:
            start.wait()
            answers[index] = post(replicas[index], "concurrent-1", body)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(replicas))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        runs = runs_of(replicas[0], answers[0].headers["x-conversation-id"])

    assert [answers[i].status_code for i in (0, 1)] == [200, 200], answers
    assert answers[0].json() == answers[1].json()
    assert sorted("idempotent-replayed" in answers[i].headers for i in (0, 1)) == [False, True]
    assert answers[0].json()["choices"][0]["message"]["content"] == "Your baseload is 240 W."
    assert len(runs) == 1
    assert len(fake.requests) == 1


async def test_a_retry_of_a_run_that_does_not_end_is_told_to_come_back(store: Store) -> None:
    _, run, _ = await store.turns.open_turn(
        None, title="t", question="q", agent_requested="auto", model="aether"
    )

    with pytest.raises(ApiError) as raised:
        await settled_run(store, run.id, wait_seconds=0.3, poll_seconds=0.05)

    assert raised.value.status == 409
    assert raised.value.code == "idempotency_key_in_use"
    assert raised.value.headers is not None
    assert int(raised.value.headers["Retry-After"]) > 0
