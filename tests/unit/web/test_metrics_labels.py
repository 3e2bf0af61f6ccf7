"""Bounded label values of the metrics."""

from __future__ import annotations

from graphql import GraphQLError

from app.http.metrics import NameBudget, error_code, is_private


def test_operation_names_are_capped() -> None:
    budget = NameBudget(2)
    assert budget.label("A") == "A"
    assert budget.label("B") == "B"
    assert budget.label("C") == "other"
    assert budget.label("A") == "A"
    assert budget.label(None) == "anonymous"
    assert budget.label("not a name!") == "other"
    assert budget.label("x" * 65) == "other"


def test_error_codes_are_bounded() -> None:
    assert error_code(GraphQLError("x", extensions={"code": "FORBIDDEN"})) == "FORBIDDEN"
    assert error_code(GraphQLError("x", extensions={"code": "made-up"})) == "OTHER"
    assert error_code(GraphQLError("x")) == "OTHER"


def test_private_addresses() -> None:
    for address in ("127.0.0.1", "::1", "10.1.2.3", "192.168.0.5", "172.16.9.9", "fd00::1"):
        assert is_private(address), address
    for address in ("1.1.1.1", "8.8.8.8", "unknown", ""):
        assert not is_private(address), address
