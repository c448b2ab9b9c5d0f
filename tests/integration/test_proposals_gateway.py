"""Proposals through the real gateway in the monolith, against the fake Home Assistant: the chat
lists them with their ids, the proposals API walks the lifecycle with OpenAI-style errors, and
"set up an automation" asks for an approval whose answer, the next chat message, resumes the same
task and deploys it, with the caller's identity in the audit trail."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from aether.data.demo import generate_demo_household
from tests.fakes.home_assistant import FAKE_TOKEN, FakeHomeAssistant, running_fake_home_assistant
from tests.gateway_harness import RunningGateway, running_gateway

API_KEY = "proposals-test-key"
IDENTITY = "api-key-" + hashlib.sha256(API_KEY.encode()).hexdigest()[:12]
SET_UP = "Set up an automation for the coffee machine, from the last 2 weeks"
ROUTINES = "Which of my routines could be automated? Look at the last 2 weeks."


@pytest.fixture
def home_assistant() -> Iterator[tuple[str, FakeHomeAssistant]]:
    now = datetime.now(UTC)
    fake = FakeHomeAssistant(generate_demo_household(now, days=14), now=now)
    with running_fake_home_assistant(fake) as url:
        yield url, fake


@pytest.fixture
def gateway(
    tmp_path: Path, home_assistant: tuple[str, FakeHomeAssistant]
) -> Iterator[RunningGateway]:
    url, _ = home_assistant
    with running_gateway(
        tmp_path, api_keys=[API_KEY], demo_days=21, ha_url=url, ha_token=FAKE_TOKEN
    ) as running:
        yield running


def chat(http: httpx.Client, text: str, conversation_id: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"model": "aether", "messages": [{"role": "user", "content": text}]}
    if conversation_id:
        body["conversation_id"] = conversation_id
    response = http.post("/api/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response


def answer_of(response: httpx.Response) -> str:
    content: str = response.json()["choices"][0]["message"]["content"]
    return content


def proposals(http: httpx.Client, **query: str) -> list[dict[str, Any]]:
    page = http.get("/api/v1/proposals", params=query).json()
    data: list[dict[str, Any]] = page["data"]
    return data


def events_of(http: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = http.get(f"/api/v1/runs/{run_id}/events").json()["data"]
    return events


def test_set_up_asks_for_approval_and_the_answer_resumes_the_same_task(
    gateway: RunningGateway, home_assistant: tuple[str, FakeHomeAssistant]
) -> None:
    _, fake = home_assistant
    with gateway.http() as http:
        first = chat(http, SET_UP)
        conversation_id = first.headers["x-conversation-id"]
        question = answer_of(first)
        waiting = proposals(http, status="proposed", conversation_id=conversation_id)
        assert waiting, question
        assert all(p["entities"] == ["switch.coffee_machine"] for p in waiting)
        for proposal in waiting:
            assert f"`{proposal['id']}`" in question
        assert "Shall I set up" in question
        assert "Reply **approve**" in question
        assert fake.config_requests == []  # nothing reaches Home Assistant before approval
        [asked] = [
            e for e in events_of(http, first.headers["x-run-id"]) if e["type"] == "input_required"
        ]
        task_id = asked["payload"]["task_id"]
        assert task_id
        assert sorted(asked["payload"]["proposal_ids"]) == sorted(p["id"] for p in waiting)

        second = chat(http, "approve", conversation_id)
        reply = answer_of(second)
        assert "deployed to Home Assistant" in reply, reply
        resumed = events_of(http, second.headers["x-run-id"])
        assert resumed[0]["payload"]["data"]["target"] == "architect"
        assert task_id in resumed[0]["payload"]["message"]
        continuing = [e for e in resumed if e["payload"].get("data", {}).get("task_id")]
        assert continuing[0]["payload"]["data"]["task_id"] == task_id

        for proposal in waiting:
            stored = http.get(f"/api/v1/proposals/{proposal['id']}").json()
            assert stored["status"] == "deployed"
            assert stored["automation_id"] in fake.automations
            assert fake.automations[stored["automation_id"]] == stored["automation"]
            assert [(a["action"], a["actor"]) for a in stored["audit"]] == [
                ("proposed", "agent:architect"),
                ("approve", IDENTITY),
                ("deploy", IDENTITY),
            ]
            assert stored["audit"][1]["reason"] == "approved in the chat: approve"

        third = chat(http, "What is my baseload?", conversation_id)  # no question open now
        assert "Shall I" not in answer_of(third)


def test_an_unclear_answer_is_asked_again_and_a_rejection_keeps_its_reason(
    gateway: RunningGateway, home_assistant: tuple[str, FakeHomeAssistant]
) -> None:
    _, fake = home_assistant
    with gateway.http() as http:
        first = chat(http, SET_UP)
        conversation_id = first.headers["x-conversation-id"]
        waiting = proposals(http, status="proposed", conversation_id=conversation_id)
        again = answer_of(chat(http, "hmm, I'm not sure what you mean", conversation_id))
        assert "I need a clear answer" in again
        rejected = answer_of(chat(http, "reject: I get up at different times", conversation_id))
        assert "I won't set" in rejected
        for proposal in waiting:
            stored = http.get(f"/api/v1/proposals/{proposal['id']}").json()
            assert stored["status"] == "rejected"
            assert stored["rejection_reason"] == "I get up at different times"
            assert stored["audit"][-1]["actor"] == IDENTITY
    assert fake.config_requests == []


def test_the_proposals_api_walks_the_lifecycle(
    gateway: RunningGateway, home_assistant: tuple[str, FakeHomeAssistant]
) -> None:
    _, fake = home_assistant
    with gateway.http() as http:
        listed = answer_of(chat(http, ROUTINES))
        drafted = proposals(http)
        assert drafted
        for proposal in drafted:
            assert f"`{proposal['id']}`" in listed
            assert proposal["status"] == "proposed"
            assert yaml.safe_load(proposal["yaml"]) == proposal["automation"]
            assert proposal["justification"]["figures"]
            assert proposal["saving"]["summary"]
        target = drafted[0]
        pid = target["id"]
        entity = target["entities"][0]
        assert pid in [p["id"] for p in proposals(http, entity=entity)]
        assert proposals(http, status="deployed") == []

        missing = http.get("/api/v1/proposals/nope")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "proposal_not_found"
        early = http.post(f"/api/v1/proposals/{pid}/deploy")
        assert early.status_code == 409
        assert early.json()["error"] == {
            "message": f"Proposal {pid} is proposed; it can only be deployed when it is approved.",
            "type": "conflict_error",
            "param": None,
            "code": "invalid_transition",
        }
        assert http.get(f"/api/v1/proposals/{pid}/yaml").status_code == 409
        assert fake.config_requests == []

        assert (
            http.post(f"/api/v1/proposals/{pid}/approve", json={"reason": "ok"}).status_code == 200
        )
        exported = http.get(f"/api/v1/proposals/{pid}/yaml")
        assert exported.headers["content-type"].startswith("application/yaml")
        assert yaml.safe_load(exported.text) == [target["automation"]]
        assert fake.config_requests == []

        deployed = http.post(f"/api/v1/proposals/{pid}/deploy").json()
        assert deployed["status"] == "deployed"
        assert deployed["replaced_existing"] is False
        assert target["automation_id"] in fake.automations
        rolled = http.post(f"/api/v1/proposals/{pid}/rollback", json={"reason": "test"}).json()
        assert rolled["status"] == "rolled_back"
        assert target["automation_id"] not in fake.automations
        actions = [(a["action"], a["from_status"], a["to_status"]) for a in rolled["audit"]]
        assert actions == [
            ("proposed", None, "proposed"),
            ("approve", "proposed", "approved"),
            ("deploy", "approved", "deployed"),
            ("rollback", "deployed", "rolled_back"),
        ]
        again = http.post(f"/api/v1/proposals/{pid}/rollback")
        assert again.status_code == 409

        other = drafted[-1]["id"] if len(drafted) > 1 else None
        if other is not None:
            no_reason = http.post(f"/api/v1/proposals/{other}/reject", json={})
            assert no_reason.status_code == 400
            assert no_reason.json()["error"]["param"] == "reason"
            done = http.post(f"/api/v1/proposals/{other}/reject", json={"reason": "no thanks"})
            assert done.json()["rejection_reason"] == "no thanks"
            assert http.post(f"/api/v1/proposals/{other}/approve").status_code == 409


def test_streamed_the_question_is_the_answer_and_proposals_are_progress(
    gateway: RunningGateway,
) -> None:
    stream = gateway.openai().chat.completions.create(
        model="aether", messages=[{"role": "user", "content": SET_UP}], stream=True
    )
    content, reasoning, finish = "", "", None
    for chunk in stream:
        delta = chunk.choices[0].delta
        content += delta.content or ""
        reasoning += getattr(delta, "reasoning_content", None) or ""
        finish = chunk.choices[0].finish_reason or finish
    assert "Shall I set up" in content
    assert finish == "stop"
    for pid in re.findall(r"proposal `([0-9a-f]{12})`", content):
        assert f"proposal {pid}:" in reasoning


def test_without_home_assistant_the_approval_in_chat_offers_the_yaml(tmp_path: Path) -> None:
    with (
        running_gateway(tmp_path, api_keys=[API_KEY], demo_days=21) as gateway,
        gateway.http() as http,
    ):
        first = chat(http, SET_UP)
        conversation_id = first.headers["x-conversation-id"]
        reply = answer_of(chat(http, "yes please", conversation_id))
        assert "No Home Assistant is connected" in reply
        [pid, *_] = re.findall(r"/api/v1/proposals/([0-9a-f]{12})/yaml", reply)
        assert http.get(f"/api/v1/proposals/{pid}").json()["status"] == "approved"
        exported = http.get(f"/api/v1/proposals/{pid}/yaml")
        assert exported.status_code == 200
        assert "switch.coffee_machine" in exported.text
        refused = http.post(f"/api/v1/proposals/{pid}/deploy")
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "home_assistant_not_configured"
