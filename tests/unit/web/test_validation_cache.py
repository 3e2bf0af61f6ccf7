"""A repeated operation is validated once; the limits still refuse what they refuse."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import validate as real_validate

from schema.limits import Limits
from tests.unit.web.test_limits import make_schema


async def test_repeated_operation_is_validated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])
        return real_validate(*args, **kwargs)

    # Strawberry calls graphql-core's validate through its own module's name.
    monkeypatch.setattr("strawberry.schema.schema.validate", counting)
    schema = make_schema(production=False, limits=Limits(max_depth=3))
    query = "{ node { child { name } } }"
    for _ in range(3):
        result = await schema.execute(query)
        assert result.errors is None
    assert len(calls) == 1
    # Too deep is refused on every request, cached or not.
    deep = "{ node { child { child { child { child { name } } } } } }"
    for _ in range(2):
        result = await schema.execute(deep)
        assert result.errors
        assert "exceeds maximum operation depth" in result.errors[0].message
    assert len(calls) == 2


async def test_a_cached_validation_is_found_by_identity_without_hashing_the_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """graphql-core's nodes hash their whole tree; the cache must not pay for that per hit."""
    from graphql import DocumentNode, parse, specified_rules

    from schema import budget

    schema = make_schema(production=False, limits=Limits())._schema
    document = parse("{ node { name } }")
    rules = tuple(specified_rules)
    calls: list[object] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])
        return real_validate(*args, **kwargs)

    def refuse(_: object) -> int:
        raise AssertionError("the document was hashed")

    monkeypatch.setattr("strawberry.schema.schema.validate", counting)
    monkeypatch.setattr(DocumentNode, "__hash__", refuse)
    assert await budget.validated(schema, document, rules) == []
    assert await budget.validated(schema, document, rules) == []
    assert calls == [document]
    # An equal document parsed again is another object: validated on its own, never confused
    # with an entry whose object (and id) is gone.
    again = parse("{ node { name } }")
    assert await budget.validated(schema, again, rules) == []
    assert calls == [document, again]
    bad = parse("{ nothing }")
    first = await budget.validated(schema, bad, rules)
    assert [e.message for e in first] == [
        e.message for e in await budget.validated(schema, bad, rules)
    ]
    assert first
    assert len(calls) == 3
