"""The proposals in the chat: the section that lists new proposals with their ids, the question
that asks for an approval, and the answer once the user has decided.

The same Markdown in the offline and the LLM answers: ids, titles and savings are never left to
a language model to paraphrase.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from aether.agents.proposals.model import ProposalBrief, ProposalDraft, ResumeInput

HOW_TO_DECIDE: Final = (
    "Approve one with `aether proposals approve <id>` or `POST /api/v1/proposals/<id>/approve`; "
    "`aether proposals show <id>` shows its YAML."
)


def proposals_section(drafts: Sequence[ProposalDraft], *, asking: bool) -> str:
    """The new proposals, numbered, each with its id, why, and what it saves."""
    lines = [
        "**Proposed automations** (nothing changes in Home Assistant until you approve one):",
        "",
    ]
    for number, draft in enumerate(drafts, start=1):
        lines += [
            f"{number}. **{draft.title}** (proposal `{draft.id}`, "
            f"confidence {draft.confidence:.2f})",
            f"   - Why: {_sentence(draft.justification.summary)}",
            f"   - Saving: {_sentence(draft.saving.summary)}",
        ]
    if not asking:
        lines += ["", HOW_TO_DECIDE]
    return "\n".join(lines) + "\n"


def approval_question(briefs: Sequence[ProposalBrief]) -> str:
    """What the user is asked when an agent needs an approval to go on."""
    one = len(briefs) == 1
    named = ", ".join(f"`{brief.id}` ({brief.title})" for brief in briefs)
    subject = "it" if one else "them"
    return (
        f"**Shall I set up {'this automation' if one else f'these {len(briefs)} automations'}?** "
        f"Proposal{'' if one else 's'} {named}. Reply **approve** to approve {subject} (Aether "
        "then deploys to Home Assistant when one is connected; otherwise you can export the "
        f"YAML), **reject** and your reason to turn {subject} down, or **later** to decide "
        "another time." + ("" if one else " Add a proposal id to answer for that one only.") + "\n"
    )


def applying_text(briefs: Sequence[ProposalBrief]) -> str:
    """The lead-in when the user asks to apply proposals an earlier answer made."""
    titles = "; ".join(f"**{brief.title}** (`{brief.id}`)" for brief in briefs)
    return f"You asked me to set up what I proposed earlier: {titles}.\n\n"


def reask_text(briefs: Sequence[ProposalBrief]) -> str:
    return "I need a clear answer before I change anything.\n\n" + approval_question(briefs)


def outcome_text(resume: ResumeInput) -> str:
    """Where the proposals stand after the user's answer was applied."""
    count = len(resume.outcomes)
    them = "it" if count == 1 else "them"
    if resume.decision == "approve":
        lead = "Approved. Here is where things stand:"
    elif resume.decision == "reject":
        why = f" (your reason: {resume.reason})" if resume.reason else ""
        lead = f"Understood, I won't set {them} up{why}:"
    else:
        lead = f"No problem, I'll leave {them} for now:"
    if not resume.outcomes:  # a caller that did not apply the answer (a plain A2A client)
        return (
            f"Your answer reads as **{resume.decision}**, but nothing was recorded: proposals "
            "are decided through Aether's gateway (`POST /api/v1/proposals/<id>/approve` or "
            "`/reject`) or with `aether proposals`.\n"
        )
    lines = [lead, ""]
    lines += [
        f"- **{outcome.title}** (`{outcome.proposal_id}`): {_sentence(outcome.detail)}"
        for outcome in resume.outcomes
    ]
    return "\n".join(lines) + "\n"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."
