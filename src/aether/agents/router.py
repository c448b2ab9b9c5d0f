"""Picks the agent for `agent: auto` requests, with a reason and a confidence a person can check."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from pydantic import BaseModel, Field, ValidationError

from aether.agents.contract import AgentName
from aether.agents.intent import read_intent
from aether.llm.client import ChatMessage, LLMClient, LLMError

log = logging.getLogger(__name__)

_AGENT_DESCRIPTIONS = {
    AgentName.ARCHITECT: "conversation, energy questions, explanations, savings, automations",
    AgentName.DS_ORCHESTRATOR: "a full multi-analyst analysis report without conversation",
    AgentName.ENERGY_ANALYST: "raw consumption, baseload, peak and profile figures only",
    AgentName.BEHAVIORAL_ANALYST: "raw device-usage patterns and recurring manual actions only",
    AgentName.DIAGNOSTIC_ANALYST: "sensor health and data quality only (gaps, stale, unavailable)",
}


@dataclass(frozen=True)
class RoutingDecision:
    agent: AgentName
    reason: str
    confidence: float
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _LLMRoute(BaseModel):
    agent: AgentName
    reason: str = Field(max_length=300)
    confidence: float = Field(ge=0.0, le=1.0)


class Router:
    """Keyword routing always works; an LLM, when configured, decides first."""

    def __init__(self, llm: LLMClient | None = None) -> None:
        self._llm = llm

    async def route(self, question: str) -> RoutingDecision:
        if self._llm is not None:
            try:
                return await self._route_with_llm(self._llm, question)
            except (LLMError, ValidationError, ValueError) as exc:
                log.warning("LLM routing failed, using keyword routing: %s", exc)
        return route_by_keywords(question)

    async def _route_with_llm(self, llm: LLMClient, question: str) -> RoutingDecision:
        completion = await llm.complete(
            [
                ChatMessage(role="system", content=_routing_prompt()),
                ChatMessage(role="user", content=question),
            ],
            temperature=0.0,
            max_tokens=120,
            response_format_json=True,
        )
        route = _LLMRoute.model_validate(json.loads(_strip_fences(completion.text)))
        return RoutingDecision(
            agent=route.agent,
            reason=f"LLM: {route.reason}",
            confidence=route.confidence,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
        )


def route_by_keywords(question: str) -> RoutingDecision:
    intent = read_intent(question)
    if intent.smalltalk:
        return RoutingDecision(AgentName.ARCHITECT, "greeting or a question about Aether", 0.9)
    if not intent.needs_analysis:
        return RoutingDecision(
            AgentName.ARCHITECT, "no analysis topic recognised; the architect converses", 0.5
        )
    if list(intent.topics) == ["diagnostic"]:
        words = ", ".join(intent.topics["diagnostic"])
        return RoutingDecision(
            AgentName.DIAGNOSTIC_ANALYST, f"only about sensor data quality ({words})", 0.8
        )
    topics = ", ".join(intent.analysts())
    confidence = min(0.95, 0.6 + 0.05 * sum(len(words) for words in intent.topics.values()))
    return RoutingDecision(
        AgentName.ARCHITECT, f"energy question needing analysis ({topics})", round(confidence, 2)
    )


def _routing_prompt() -> str:
    choices = "\n".join(f"- {agent.value}: {text}" for agent, text in _AGENT_DESCRIPTIONS.items())
    return (
        "You route questions about a household's energy use to one agent. Agents:\n"
        f"{choices}\n"
        'Answer with JSON only: {"agent": "<name>", "reason": "<short>", "confidence": <0..1>}. '
        "Prefer the architect unless the user clearly wants one specialist's raw output."
    )


def _strip_fences(text: str) -> str:
    """Some models wrap JSON in Markdown fences even when asked not to."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`")
        stripped = stripped.removeprefix("json").strip()
    return stripped
