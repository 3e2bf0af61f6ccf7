"""schema.budget measures a document's size and an operation's estimate once, not per request."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest
import strawberry
from graphql import parse

from schema import budget
from schema.cost import estimate_nodes, shape


@strawberry.type
class Item:
    name: str = "i"


@strawberry.type
class Query:
    @strawberry.field
    def items(self, first: int = 10) -> list[Item]:
        return [Item()]


SCHEMA = strawberry.Schema(query=Query)._schema


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    calls = {"shape": 0, "estimate": 0}

    def counting_shape(document: Any) -> Any:
        calls["shape"] += 1
        return shape(document)

    def counting_estimate(*args: Any, **kwargs: Any) -> int:
        calls["estimate"] += 1
        return estimate_nodes(*args, **kwargs)

    monkeypatch.setattr(budget, "shape", counting_shape)
    monkeypatch.setattr(budget, "estimate_nodes", counting_estimate)
    return calls


def test_the_size_is_measured_once_per_document(counted: dict[str, int]) -> None:
    document = parse("{ items { name } }")
    assert budget.expanded_size(document) == budget.expanded_size(document) == 2
    assert counted["shape"] == 1
    assert budget.expanded_size(parse("{ items { name } }")) == 2  # another document object
    assert counted["shape"] == 2


def test_the_estimate_is_kept_per_operation_and_plain_variables(counted: dict[str, int]) -> None:
    document = parse("query Q($n: Int) { items(first: $n) { name } }")
    assert budget.estimate(document, SCHEMA, "Q", {"n": 5}) == 5
    assert budget.estimate(document, SCHEMA, "Q", {"n": 5}) == 5
    assert counted["estimate"] == 1
    assert budget.estimate(document, SCHEMA, "Q", {"n": 7}) == 7
    assert budget.estimate(document, SCHEMA, "Q", None) == 10
    assert counted["estimate"] == 3


def test_variables_that_are_not_plain_are_never_kept(counted: dict[str, int]) -> None:
    document = parse("query Q($n: Int) { items(first: $n) { name } }")
    for _ in range(2):
        assert budget.estimate(document, SCHEMA, "Q", {"n": 3, "f": {"a": [1]}}) == 3
    assert counted["estimate"] == 2


def test_the_caches_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "MEASURE_CACHE_SIZE", 3)
    monkeypatch.setattr(budget, "_SIZES", OrderedDict())
    monkeypatch.setattr(budget, "_ESTIMATES", OrderedDict())
    documents = [parse(f"{{ items(first: {n}) {{ name }} }}") for n in range(6)]
    for document in documents:
        budget.expanded_size(document)
        budget.estimate(document, SCHEMA, None, {})
    assert len(budget._SIZES) <= 3
    assert len(budget._ESTIMATES) <= 3
