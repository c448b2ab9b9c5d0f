from aether.gateway.token_budget import TokenBudget
from aether.llm.tokens import count_tokens


def test_unlimited_budget_passes_everything() -> None:
    assert TokenBudget(None).take("any text at all") == ("any text at all", False)


def test_budget_cuts_at_a_word_boundary_and_reports_exhaustion() -> None:
    budget = TokenBudget(5)
    first, spent = budget.take("one two ")
    assert (first, spent) == ("one two ", False)
    second, spent = budget.take("three four five six seven")
    assert spent
    assert second.split() == ["three", "four", "five"][: 5 - count_tokens(first)]
    assert budget.take("more") == ("", True)
