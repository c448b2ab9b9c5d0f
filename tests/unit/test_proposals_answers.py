"""Reading people: whether a question wants proposals or wants them applied, and what a reply
to "shall I set this up?" decides."""

from __future__ import annotations

import pytest

from aether.agents.proposals.answers import mentioned_ids, proposal_wish, read_answer

IDS = ["3f2a9c1b7d4e", "a81c02f9e355"]


@pytest.mark.parametrize(
    ("question", "draft", "apply"),
    [
        ("Set up an automation for the coffee machine", True, True),
        ("Which of my routines could be automated?", True, False),
        ("How can I save energy at night?", True, False),
        ("apply it", True, True),
        ("Go ahead and install those", True, True),
        ("How much energy did I use last week?", False, False),
    ],
)
def test_what_a_question_asks_of_proposals(question: str, draft: bool, apply: bool) -> None:
    wish = proposal_wish(question)
    assert (wish.draft, wish.apply) == (draft, apply)


@pytest.mark.parametrize(
    ("reply", "decision", "reason"),
    [
        ("approve", "approve", None),
        ("Yes please, do it", "approve", None),
        ("ok", "approve", None),
        ("reject: I get up later on Fridays", "reject", "I get up later on Fridays"),
        ("No, because the cat sleeps there", "reject", "the cat sleeps there"),
        ("don't", "reject", None),
        ("later", "defer", None),
        ("not now", "defer", None),
        ("what is my baseload?", None, None),
        ("no problem, go ahead", None, None),
        ("hmm, I'm not sure what you mean", None, None),
        ("I'm not sure, I haven't decided", None, None),
        ("sure", "approve", None),
    ],
)
def test_a_reply_decides_or_does_not(reply: str, decision: str | None, reason: str | None) -> None:
    answer = read_answer(reply, IDS)
    assert (answer.decision, answer.reason) == (decision, reason)
    assert answer.proposal_ids == tuple(IDS)


def test_naming_an_id_or_its_prefix_limits_the_answer_to_it() -> None:
    answer = read_answer("approve a81c02", IDS)
    assert answer.decision == "approve"
    assert answer.proposal_ids == ("a81c02f9e355",)
    assert read_answer("reject 3f2a9c1b7d4e, too early", IDS).reason == "too early"
    assert mentioned_ids("approve a81c0", IDS) == ()  # five digits are too few to be sure
