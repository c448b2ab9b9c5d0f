import pytest

from aether.agents.contract import AgentName
from aether.gateway.catalog import find_model, list_models, resolve_target
from aether.gateway.errors import ApiError


def test_models_are_the_agents_plus_automatic_routing() -> None:
    ids = [card.id for card in list_models()]
    assert ids[0] == "aether"
    assert "aether-architect" in ids
    assert "aether-energy-analyst" in ids
    assert len(ids) == 1 + len(AgentName)


def test_model_selects_the_agent_and_agent_field_wins() -> None:
    assert resolve_target("aether", None) is None
    assert resolve_target("aether-diagnostic-analyst", None) is AgentName.DIAGNOSTIC_ANALYST
    assert resolve_target("aether-architect", "energy-analyst") is AgentName.ENERGY_ANALYST
    assert resolve_target("gpt-4o", "auto") is None


def test_unknown_model_is_404_and_unknown_agent_is_400() -> None:
    with pytest.raises(ApiError) as missing:
        resolve_target("gpt-4o", None)
    assert (missing.value.status, missing.value.param) == (404, "model")
    with pytest.raises(ApiError) as unknown:
        resolve_target("aether", "plumber")
    assert (unknown.value.status, unknown.value.code) == (400, "unknown_agent")
    with pytest.raises(ApiError):
        find_model("aether-nobody")
