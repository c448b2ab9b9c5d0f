"""Chat requests against a gateway, each in a thread of its own, watched while they run.

A fault test starts several streamed answers, waits until they are under way (a progress line, a
given replica at work), kills a process, and then looks at how each one ended: `[DONE]`, an error
frame, or a broken connection. Nothing here times anything; every wait has a generous deadline
and fails with what it was waiting for.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.deploy_harness import wait_for

CHAT_PATH = "/api/v1/chat/completions"
CLIENT_TIMEOUT = 300.0


@dataclass
class StreamedChat:
    """One streamed chat request, read to its end in a background thread."""

    gateway: str
    question: str
    idempotency_key: str | None = None
    conversation_id: str | None = None
    status: int | None = None
    run_id: str | None = None
    answered_conversation: str | None = None
    reasoning: list[str] = field(default_factory=list)
    content: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None
    """The error frame's error object, if the stream ended with one."""
    done: bool = False
    """`data: [DONE]` arrived: the answer is complete."""
    broken: str | None = None
    """The transport error that ended the stream (a killed gateway), if any."""
    body: str = ""
    """The body of an answer that was not a stream (an error status)."""
    _ended: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> StreamedChat:
        self._thread = threading.Thread(target=self._read, name="streamed-chat", daemon=True)
        self._thread.start()
        return self

    @property
    def accepted(self) -> bool:
        """The gateway stored the question: it answered with the run's id."""
        return self.run_id is not None

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    @property
    def text(self) -> str:
        return "".join(self.content)

    def progressed(self, marker: str) -> bool:
        return any(marker in line for line in self.reasoning)

    def wait_ended(self, timeout: float = 240.0) -> StreamedChat:
        wait_for(lambda: self.ended, timeout, f"the answer to {self.question!r} to end")
        return self

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.idempotency_key is not None:
            headers["Idempotency-Key"] = self.idempotency_key
        return headers

    def _read(self) -> None:
        body: dict[str, Any] = {
            "model": "aether",
            "stream": True,
            "messages": [{"role": "user", "content": self.question}],
        }
        if self.conversation_id is not None:
            body["conversation_id"] = self.conversation_id
        try:
            with (
                httpx.Client(timeout=CLIENT_TIMEOUT, trust_env=False) as http,
                http.stream(
                    "POST", self.gateway + CHAT_PATH, json=body, headers=self.headers()
                ) as response,
            ):
                self.status = response.status_code
                self.run_id = response.headers.get("x-run-id")
                self.answered_conversation = response.headers.get("x-conversation-id")
                if response.status_code != 200:
                    self.body = response.read().decode()
                    return
                for line in response.iter_lines():
                    self._frame(line)
        except httpx.HTTPError as exc:
            self.broken = type(exc).__name__
        finally:
            self._ended.set()

    def _frame(self, line: str) -> None:
        if not line.startswith("data: "):
            return
        data = line.removeprefix("data: ")
        if data == "[DONE]":
            self.done = True
            return
        frame = json.loads(data)
        if "error" in frame:
            self.error = frame["error"]
            return
        for choice in frame.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                self.reasoning.append(delta["reasoning_content"])
            if delta.get("content"):
                self.content.append(delta["content"])


def chat(
    gateway: str,
    question: str,
    *,
    idempotency_key: str | None = None,
    conversation_id: str | None = None,
    timeout: float = CLIENT_TIMEOUT,
) -> httpx.Response:
    """One chat request, not streamed."""
    body: dict[str, Any] = {"model": "aether", "messages": [{"role": "user", "content": question}]}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    with httpx.Client(timeout=timeout, trust_env=False) as http:
        return http.post(gateway + CHAT_PATH, json=body, headers=headers)


def answer_of(response: httpx.Response) -> str:
    content: str = response.json()["choices"][0]["message"]["content"]
    return content
