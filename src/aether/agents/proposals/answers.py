"""Reading people: does a question ask for proposals, or to apply them, and is a reply to
"shall I set this up?" a yes, a no (and why), or a "not now"?

Keyword rules, so that every decision can be explained and no model can approve anything: an
approval needs an approving word that is not negated ("not sure") and neither a refusing nor a
"later" one; approving and refusing
words together are no answer (the agent asks again); a refusal and a "later" go by whichever comes
first. Ids (or their first six or more digits) named in a reply limit it to those proposals.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from aether.agents.proposals.model import Decision

_APPLY: Final = re.compile(
    r"\b(set (it |this |that |them |these |those )?up|set up|apply|install|deploy|create|"
    r"put (it|them) in place|make (it|them) happen|go ahead|do it|enable|activate)\b",
    re.IGNORECASE,
)
_AUTOMATION: Final = re.compile(
    r"\b(automat\w*|routines?|habits?|schedul\w*|left on|overnight|save|saving|savings|"
    r"reduce|cheaper|shift|propos\w*|suggest\w*|recommend\w*|what (can|should) i change)\b",
    re.IGNORECASE,
)
_DEFER: Final = re.compile(
    r"\b(later|not now|not yet|skip|wait|leave (it|them)|maybe|postpone)\b", re.IGNORECASE
)
_REJECT: Final = re.compile(
    r"\b(reject\w*|no|nope|nah|don'?t|do not|decline\w*|refuse\w*|cancel|never|not needed)\b",
    re.IGNORECASE,
)
_APPROVE: Final = re.compile(
    r"\b(approve\w*|yes|yeah|yep|ok|okay|sure|go ahead|do it|apply|confirm\w*|accept\w*|"
    r"deploy|set (it |them )?up|sounds good|please do)\b",
    re.IGNORECASE,
)
_NEGATED: Final = re.compile(r"\b(not|never|no|hardly)\s+(\w+\s+)?$|n't\s+(\w+\s+)?$", re.I)
"""Words just before an approving word that turn it around: "not sure", "don't apply"."""
_REASON_LEAD: Final = re.compile(r"^[\s:,;.\-–—!]*(because|since|as)?\s*", re.IGNORECASE)
_ID: Final = re.compile(r"\b[0-9a-f]{6,36}\b")
MIN_ID_PREFIX: Final = 6


@dataclass(frozen=True)
class ProposalWish:
    """What a question asks of proposals: to draft them, and to apply them (which needs an
    approval before anything changes)."""

    draft: bool
    apply: bool


@dataclass(frozen=True)
class Answer:
    decision: Decision | None
    """None: the reply is none of approve, reject or later."""
    reason: str | None
    proposal_ids: tuple[str, ...]
    """The proposals the reply is about: those it names, else all that were asked about."""


def proposal_wish(question: str) -> ProposalWish:
    apply = _APPLY.search(question) is not None
    return ProposalWish(draft=apply or _AUTOMATION.search(question) is not None, apply=apply)


def mentioned_ids(text: str, proposal_ids: Sequence[str]) -> tuple[str, ...]:
    """The proposals whose id, or a prefix of at least six of its digits, the text names."""
    tokens = {token.lower() for token in _ID.findall(text)}
    return tuple(
        proposal_id
        for proposal_id in proposal_ids
        if any(len(t) >= MIN_ID_PREFIX and proposal_id.startswith(t) for t in tokens)
    )


def read_answer(text: str, proposal_ids: Sequence[str]) -> Answer:
    """How `text` answers the question about `proposal_ids`."""
    named = mentioned_ids(text, proposal_ids) or tuple(proposal_ids)
    words = _ID.sub(" ", text)
    approve = next(
        (m for m in _APPROVE.finditer(words) if not _NEGATED.search(words[: m.start()])), None
    )
    reject, defer = _REJECT.search(words), _DEFER.search(words)
    if approve and reject:
        return Answer(None, None, named)  # "no problem, go ahead": ask again rather than guess
    if defer and (approve or not reject or defer.start() < reject.start()):
        return Answer("defer", None, named)  # a yes with a "later" changes nothing yet
    if reject:
        reason = _REASON_LEAD.sub("", words[reject.end() :]).strip()
        return Answer("reject", reason or None, named)
    if approve:
        return Answer("approve", None, named)
    return Answer(None, None, named)
