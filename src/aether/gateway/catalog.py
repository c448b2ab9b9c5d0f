"""The agents as OpenAI models: `aether` routes automatically, `aether-<agent>` picks one agent."""

from __future__ import annotations

from aether.agents.contract import AgentName
from aether.gateway.errors import ApiError
from aether.gateway.openai_schema import ModelCard

AUTO_MODEL = "aether"
AUTO_AGENT = "auto"
_PREFIX = "aether-"
_CREATED = 1_767_225_600  # 2026-01-01: a stable timestamp, as the models do not change at runtime

_DESCRIPTIONS = {
    AUTO_MODEL: "Routes each question to the best agent automatically.",
    AgentName.ARCHITECT: "Conversational agent: answers energy questions, delegates analysis.",
    AgentName.DS_ORCHESTRATOR: "Runs the analyst team and returns a ranked findings report.",
    AgentName.ENERGY_ANALYST: "Consumption, profiles, baseload, peak demand and top consumers.",
    AgentName.BEHAVIORAL_ANALYST: "Device usage patterns and recurring manual actions.",
    AgentName.DIAGNOSTIC_ANALYST: "Sensor health: gaps, stale and unavailable sensors, bad values.",
}


def model_id(agent: AgentName | None) -> str:
    return AUTO_MODEL if agent is None else f"{_PREFIX}{agent.value}"


def list_models() -> list[ModelCard]:
    agents: list[AgentName | None] = [None, *AgentName]
    return [
        ModelCard(
            id=model_id(agent),
            created=_CREATED,
            description=_DESCRIPTIONS[AUTO_MODEL if agent is None else agent],
        )
        for agent in agents
    ]


def find_model(identifier: str) -> ModelCard:
    for card in list_models():
        if card.id == identifier:
            return card
    raise _unknown_model(identifier)


def resolve_target(model: str, agent: str | None) -> AgentName | None:
    """The agent a request asks for (None means automatic routing). An explicit `agent` wins
    over the model, so clients that cannot choose the model name (e.g. `gpt-4o`) still work."""
    if agent is not None:
        if agent == AUTO_AGENT:
            return None
        try:
            return AgentName(agent)
        except ValueError:
            choices = ", ".join([AUTO_AGENT, *(name.value for name in AgentName)])
            raise ApiError(
                400,
                f"Unknown agent {agent!r}; use one of: {choices}.",
                param="agent",
                code="unknown_agent",
            ) from None
    if model == AUTO_MODEL:
        return None
    if model.startswith(_PREFIX):
        try:
            return AgentName(model.removeprefix(_PREFIX))
        except ValueError:
            pass
    raise _unknown_model(model)


def _unknown_model(model: str) -> ApiError:
    return ApiError(
        404,
        f"The model {model!r} does not exist; GET /api/v1/models lists the available models.",
        param="model",
        code="model_not_found",
    )
