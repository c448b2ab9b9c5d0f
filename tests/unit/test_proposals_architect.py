"""The architect drafts proposals when the findings support an action and lists them with their
ids; asked to set one up, it asks for an approval and ends the call waiting for it; the answer,
on the same task, lets it go on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from aether.agents.architect import Architect
from aether.agents.contract import (
    AgentClient,
    AgentEvent,
    AgentName,
    AgentRequest,
    FinalEvent,
    FindingsEvent,
    InputRequiredEvent,
    ProposalEvent,
    ServiceName,
    TextDelta,
)
from aether.agents.proposals.model import (
    ProposalBrief,
    ProposalOutcome,
    ProposalStatus,
    ResumeInput,
)
from tests.unit.test_analysis_behavioral import TWO_WEEKS, analyse

NAMES = {
    "light.living_room": "Living room light",
    "light.garden": "Garden light",
    "switch.random": "Random switch",
}


class FakeOrchestrator:
    """Answers every delegation with the planted behavioral findings."""

    def __init__(self) -> None:
        self.calls: list[AgentRequest] = []

    async def stream(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        self.calls.append(request)
        result = analyse()
        yield FindingsEvent(
            agent=AgentName.DS_ORCHESTRATOR,
            analyst="behavioral",
            findings=result.findings,
            confidence=result.confidence,
            entity_names=NAMES,
        )
        yield FinalEvent(agent=AgentName.DS_ORCHESTRATOR, text="")


class Directory:
    def __init__(self, orchestrator: FakeOrchestrator) -> None:
        self._orchestrator = orchestrator

    def client_for(self, service: ServiceName) -> AgentClient:
        assert service is ServiceName.DS_ORCHESTRATOR
        return self._orchestrator


def architect() -> tuple[Architect, FakeOrchestrator]:
    orchestrator = FakeOrchestrator()
    agent = Architect(Directory(orchestrator), lambda: TWO_WEEKS, "Europe/Berlin", llm=None)
    return agent, orchestrator


def run(agent: Architect, request: AgentRequest) -> list[AgentEvent]:
    async def collect() -> list[AgentEvent]:
        return [event async for event in agent.stream(request)]

    return asyncio.run(collect())


def ask(
    question: str, proposals: list[ProposalBrief] | None = None, resume: ResumeInput | None = None
) -> AgentRequest:
    return AgentRequest(
        run_id="run-1",
        agent=AgentName.ARCHITECT,
        question=question,
        proposals=proposals or [],
        resume=resume,
    )


def text_of(events: list[AgentEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


def test_findings_that_support_an_action_become_listed_proposals() -> None:
    agent, _ = architect()
    events = run(agent, ask("Which of my routines could be automated?"))
    proposals = [event.proposal for event in events if isinstance(event, ProposalEvent)]
    assert {"light.living_room", "light.garden"} <= {e for p in proposals for e in p.entities}
    answer = text_of(events)
    for proposal in proposals:
        assert f"`{proposal.id}`" in answer
        assert proposal.title in answer
    assert "nothing changes in Home Assistant until you approve" in answer
    assert "aether proposals approve" in answer
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert final.text == answer
    assert not any(isinstance(event, InputRequiredEvent) for event in events)


def test_a_question_without_an_automation_topic_drafts_nothing() -> None:
    agent, _ = architect()
    events = run(agent, ask("When do I use the living room light?"))
    assert not any(isinstance(event, ProposalEvent) for event in events)
    assert isinstance(events[-1], FinalEvent)


def test_asked_to_set_one_up_it_asks_for_approval_and_waits() -> None:
    agent, _ = architect()
    events = run(agent, ask("Set up an automation for the living room light"))
    proposals = [event.proposal for event in events if isinstance(event, ProposalEvent)]
    assert proposals
    assert all(p.entities == ["light.living_room"] for p in proposals)  # only what was named
    waiting = events[-1]
    assert isinstance(waiting, InputRequiredEvent)
    assert waiting.proposal_ids == [p.id for p in proposals]
    assert waiting.task_id is None  # the A2A layer or the gateway gives the task its ids
    assert "Reply **approve**" in waiting.question
    assert waiting.question in text_of(events)
    assert not any(isinstance(event, FinalEvent) for event in events)


def test_apply_it_asks_about_the_conversations_earlier_proposals() -> None:
    agent, orchestrator = architect()
    earlier = [
        ProposalBrief(
            id="3f2a9c1b7d4e",
            title="Garden light off at 01:00 when left on",
            status=ProposalStatus.PROPOSED,
            entities=["light.garden"],
        ),
        ProposalBrief(
            id="a81c02f9e355",
            title="Living room light on at 19:00 on weekdays",
            status=ProposalStatus.PROPOSED,
            entities=["light.living_room"],
        ),
    ]
    events = run(agent, ask("apply the garden one", proposals=earlier))
    assert orchestrator.calls == []  # nothing to analyse
    waiting = events[-1]
    assert isinstance(waiting, InputRequiredEvent)
    assert waiting.proposal_ids == ["3f2a9c1b7d4e"]
    assert "what I proposed earlier" in text_of(events)


def test_the_answer_resumes_the_task_and_it_reports_the_outcome() -> None:
    agent, orchestrator = architect()
    resume = ResumeInput(
        task_id="task-1",
        context_id="context-1",
        proposal_ids=["3f2a9c1b7d4e"],
        decision="approve",
        outcomes=[
            ProposalOutcome(
                proposal_id="3f2a9c1b7d4e",
                title="Garden light off at 01:00 when left on",
                status=ProposalStatus.DEPLOYED,
                detail="approved and deployed to Home Assistant as automation `aether_x`",
            )
        ],
    )
    events = run(agent, ask("approve", resume=resume))
    assert orchestrator.calls == []
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert "Approved" in final.text
    assert "deployed to Home Assistant as automation `aether_x`" in final.text


def test_an_unclear_answer_is_asked_again_on_the_same_task() -> None:
    agent, _ = architect()
    resume = ResumeInput(
        task_id="task-1",
        context_id="context-1",
        proposal_ids=["3f2a9c1b7d4e"],
        decision=None,
        outcomes=[
            ProposalOutcome(
                proposal_id="3f2a9c1b7d4e",
                title="Garden light off at 01:00 when left on",
                status=ProposalStatus.PROPOSED,
                detail="still proposed",
            )
        ],
    )
    events = run(agent, ask("hmm, what does it cost?", resume=resume))
    waiting = events[-1]
    assert isinstance(waiting, InputRequiredEvent)
    assert waiting.proposal_ids == ["3f2a9c1b7d4e"]
    assert "I need a clear answer" in text_of(events)
