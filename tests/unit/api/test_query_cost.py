"""schema.cost: what a document expands to and what it may return, fragments measured once."""

from __future__ import annotations

import time
from typing import Any

import pytest
from graphql import parse, validate
from strawberry.extensions.max_aliases import create_validator as strawberry_aliases
from strawberry.extensions.query_depth_limiter import create_validator as strawberry_depth

from app.graphql.schema import build_schema
from schema.cost import CEILING, DEFAULT_LIST, estimate_nodes, shape

schema = build_schema(debug=False)

SCHEMA = schema._schema


def fan_out(depth: int) -> str:
    lines = ["query { ...F0 }"]
    lines += [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(depth)]
    lines.append(f"fragment F{depth} on Query {{ status {{ version }} }}")
    return "\n".join(lines)


def nodes(query: str, **variables: Any) -> int:
    return estimate_nodes(parse(query), SCHEMA, operation_name=None, variables=variables)


@pytest.mark.parametrize("depth", [1, 10, 20, 40])
def test_fan_out_is_measured_exactly_and_in_linear_time(depth: int) -> None:
    started = time.perf_counter()
    measured = shape(parse(fan_out(depth)))
    assert time.perf_counter() - started < 0.5  # 2⁴⁰ spreads, measured once each
    assert measured.selections == min(CEILING, 2 * 2**depth)
    assert measured.depths == {"anonymous": 1}


def test_a_long_fan_out_stops_at_the_ceiling() -> None:
    assert shape(parse(fan_out(200))).selections == CEILING


DOCUMENTS = [
    "{ status { version } }",
    "{ a: status { version } b: status { v: version } }",
    "query Q { offerings { edges { node { issuer { offerings { edges { node { id } } } } } } } }",
    "fragment O on Offering { id issuer { name } } "
    "query { x: offerings { edges { node { ...O } } } y: offerings { edges { node { ...O } } } }",
    "query A { status { version } } query B { s: status { version } } "
    'mutation M { signOut(refreshToken: "x") }',
    "{ __schema { types { name fields { name } } } }",
    '{ node(id: "x") { ... on Offering { a: issuer { name } } } }',
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_depth_and_aliases_agree_with_strawberrys_limiters(document: str) -> None:
    measured = shape(parse(document))
    seen: dict[str, int] = {}
    validate(
        SCHEMA,
        parse(document),
        [strawberry_depth(100, None, callback=seen.update), strawberry_aliases(100)],
    )
    assert measured.depths == seen
    for limit in range(4):
        errors = validate(SCHEMA, parse(document), [strawberry_aliases(limit)])
        assert bool(errors) == (measured.aliases > limit)


def test_fragment_cycles_and_unknown_fragments_do_not_loop() -> None:
    cyclic = parse(
        "query { ...A } fragment A on Query { status { version } ...B } "
        "fragment B on Query { ...A ...Missing }"
    )
    assert shape(cyclic).selections == 2
    assert estimate_nodes(cyclic, SCHEMA, operation_name=None, variables=None) == 1


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("{ status { version } }", 1),
        ("{ status { dependencies { name } } }", 1 + DEFAULT_LIST),
        # A connection: 1, then its page of edges and nodes, then pageInfo once.
        ("{ offerings { edges { node { id } } pageInfo { hasNextPage } } }", 1 + 20 * 2 + 1),
        ("{ offerings(first: 100) { edges { node { issuer { name } } } } }", 1 + 100 * 3),
        (
            "{ offerings(first: 100) { edges { node { issuer { offerings(first: 100) "
            "{ edges { node { id } } } } } } } }",
            20_401,
        ),
        (
            "fragment C on OfferingConnection { edges { node { id } } } "
            "{ offerings(first: 50) { ...C } }",
            1 + 50 * 2,
        ),
        ('{ node(id: "x") { ... on Offering { issuer { name } } } }', 2),
        (
            "{ offerings(first: 99999999999999999999999) { edges { node { id } } } }",
            min(CEILING, 1 + CEILING * 2),
        ),
        ("{ offerings(first: -5) { edges { node { id } } } }", 1),
        ("{ nope { a { b } } }", 2),
    ],
)
def test_estimated_nodes(query: str, expected: int) -> None:
    assert nodes(query) == expected


def test_page_sizes_from_variables_and_their_defaults() -> None:
    query = "query($n: Int = 7) { offerings(first: $n) { edges { node { id } } } }"
    assert nodes(query, n=3) == 1 + 3 * 2
    assert nodes(query) == 1 + 7 * 2
    assert nodes(query, n="many") == 1 + 20 * 2  # not an integer: the field's default
    assert nodes(query, n=True) == 1 + 20 * 2


def test_the_operation_named_is_the_one_estimated() -> None:
    document = parse(
        "query Small { status { version } } "
        "query Big { offerings(first: 100) { edges { node { id } } } }"
    )
    assert estimate_nodes(document, SCHEMA, operation_name="Small", variables=None) == 1
    assert estimate_nodes(document, SCHEMA, operation_name="Big", variables=None) == 201
    assert estimate_nodes(document, SCHEMA, operation_name=None, variables=None) == 0
    assert estimate_nodes(document, SCHEMA, operation_name="Other", variables=None) == 0
