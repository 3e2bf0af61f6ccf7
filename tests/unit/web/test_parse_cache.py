"""Parsed documents are reused per text; parse errors still come from the parser."""

from __future__ import annotations

from graphql import DocumentNode
from strawberry.extensions import SchemaExtension

from schema.limits import Limits
from tests.unit.web.test_limits import codes, make_schema


class Documents(SchemaExtension):
    """Remembers the document each operation ran with."""

    seen: list[DocumentNode] = []

    def on_validate(self):  # type: ignore[no-untyped-def]
        assert self.execution_context.graphql_document is not None
        Documents.seen.append(self.execution_context.graphql_document)
        yield


async def test_the_same_text_is_parsed_once_and_a_bad_one_each_time() -> None:
    schema = make_schema(production=True, limits=Limits(max_tokens=50))
    schema.extensions = (*schema.extensions, Documents)
    Documents.seen.clear()
    one = await schema.execute("{ node { name } }")
    two = await schema.execute("{ node { name } }")
    other = await schema.execute("{ node { child { name } } }")
    assert one.errors is None
    assert two.errors is None
    assert other.errors is None
    assert Documents.seen[0] is Documents.seen[1]
    assert Documents.seen[2] is not Documents.seen[0]
    for _ in range(2):
        big = await schema.execute("{ node { " + "name " * 60 + "} }")
        assert codes(big) == ["LIMIT_EXCEEDED"]
        broken = await schema.execute("{ node { name ")
        assert broken.errors
        assert "Syntax Error" in broken.errors[0].message
