"""A service stopped with SIGTERM (a rolling restart) ends its answers in flight cleanly.

The services run as processes with a slow LLM (the fake OpenAI server streaming one word at a
time). On a stopping gateway, an answer that can finish within SHUTDOWN_GRACE_SECONDS does; one
that cannot ends with a 503 `gateway_stopping` error frame, its run is stored `failed` with the
words already sent, and a retry with the same Idempotency-Key runs again (on the restarted gateway
here) instead of replaying the failure. A stopping agent service finishes the answer it streams.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx

from tests.deploy_harness import wait_for
from tests.e2e.chat_streams import StreamedChat, chat
from tests.e2e.distributed import launched_mesh
from tests.e2e.monolith import STOP_TIMEOUT, aether_process, aether_server
from tests.fakes.openai_server import FakeOpenAI, RecordedRequest, Reply, running_fake_openai

QUESTION = "hello"
ANSWER = " ".join(f"word{n}" for n in range(40))
STOPPED_BY_SIGNAL = (0, -signal.SIGTERM)
"""uvicorn re-raises the signal it stopped on once it has shut down."""


class SlowModel:
    """Routes to the architect at once, then streams the answer a word every `interval` s."""

    def __init__(self, interval: float) -> None:
        self.interval = interval

    def __call__(self, request: RecordedRequest) -> Reply:
        if request.body.get("response_format"):
            route = {"agent": "architect", "reason": "a greeting", "confidence": 0.9}
            return Reply(json.dumps(route))
        return Reply(ANSWER, chunk_interval_seconds=self.interval)


def llm_settings(llm_url: str, grace: float) -> dict[str, str]:
    return {
        "LLM_BASE_URL": llm_url,
        "LLM_API_KEY": "llm-key",
        "LLM_MODEL": "fake-model",
        "SHUTDOWN_GRACE_SECONDS": str(grace),
        "SANDBOX": "process",
    }


def get(base_url: str, path: str) -> dict[str, Any]:
    response = httpx.get(base_url + path, timeout=30, trust_env=False)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_answer_that_outlasts_the_grace_ends_with_a_retryable_error_and_is_kept(
    tmp_path: Path,
) -> None:
    model = SlowModel(interval=0.5)  # 40 words: 20 s, far longer than the grace
    fake = FakeOpenAI(responder=model, api_key="llm-key")
    with running_fake_openai(fake) as llm_url:
        settings = llm_settings(llm_url, grace=1)
        with aether_server(tmp_path, **settings) as gateway:
            streamed = StreamedChat(gateway.url, QUESTION, idempotency_key="stop-1").start()
            wait_for(lambda: len(streamed.content) >= 2 or streamed.ended, 60, "the first words")
            gateway.process.send_signal(signal.SIGTERM)
            streamed.wait_ended(STOP_TIMEOUT)
            assert gateway.process.wait(timeout=STOP_TIMEOUT) in STOPPED_BY_SIGNAL

        assert not streamed.done, streamed
        assert streamed.broken is None, streamed
        assert streamed.error is not None, streamed
        assert streamed.error["code"] == "gateway_stopping", streamed.error
        assert streamed.error["type"] == "service_unavailable", streamed.error
        sent = streamed.text
        assert sent, streamed
        assert ANSWER.startswith(sent.strip()), sent

        model.interval = 0.0
        with aether_process(tmp_path, **settings) as restarted:
            run = get(restarted, f"/api/v1/runs/{streamed.run_id}")
            assert run["status"] == "failed", run
            assert run["error"] == streamed.error["message"], run
            conversation = get(restarted, f"/api/v1/conversations/{run['conversation_id']}")
            question, answer = conversation["messages"]
            assert (question["role"], question["content"]) == ("user", QUESTION)
            assert answer["status"] == "failed", answer
            assert answer["content"].startswith(sent), (answer, sent)

            retried = chat(restarted, QUESTION, idempotency_key="stop-1")
            assert retried.status_code == 200, retried.text
            assert retried.headers["x-run-id"] != streamed.run_id
            assert retried.json()["choices"][0]["message"]["content"] == ANSWER


def test_an_answer_that_finishes_within_the_grace_completes(tmp_path: Path) -> None:
    fake = FakeOpenAI(responder=SlowModel(interval=0.1), api_key="llm-key")  # about 4 s
    with running_fake_openai(fake) as llm_url:
        with aether_server(tmp_path, **llm_settings(llm_url, grace=30)) as gateway:
            streamed = StreamedChat(gateway.url, QUESTION).start()
            wait_for(lambda: len(streamed.content) >= 2 or streamed.ended, 60, "the first words")
            gateway.process.send_signal(signal.SIGTERM)
            streamed.wait_ended(STOP_TIMEOUT)
            assert gateway.process.wait(timeout=STOP_TIMEOUT) in STOPPED_BY_SIGNAL
        assert streamed.done, streamed
        assert streamed.error is None, streamed
        assert streamed.text == ANSWER


def test_a_stopping_agent_service_finishes_the_answer_it_is_streaming(tmp_path: Path) -> None:
    """Without this, the a2a-sdk's stream (sse-starlette) would be cut the moment the architect
    stops, and the gateway would end the answer with `agent_unavailable`."""
    fake = FakeOpenAI(responder=SlowModel(interval=0.1), api_key="llm-key")  # about 4 s
    with (
        running_fake_openai(fake) as llm_url,
        launched_mesh(tmp_path, extra_env=llm_settings(llm_url, grace=30)) as (mesh, log),
    ):
        (architect,) = mesh.replicas("architect")
        streamed = StreamedChat(mesh.urls["gateway"], QUESTION).start()
        wait_for(lambda: len(streamed.content) >= 2 or streamed.ended, 60, "the first words")
        os.kill(architect.pid, signal.SIGTERM)
        streamed.wait_ended(STOP_TIMEOUT)
        stopped = mesh.wait(timeout=STOP_TIMEOUT)
    assert streamed.done, (streamed, log.text)
    assert streamed.error is None, streamed
    assert streamed.text == ANSWER
    assert stopped is not None, log.text
    assert stopped.role == "architect", stopped
