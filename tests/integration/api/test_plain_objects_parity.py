"""The real schema answers the same bytes with schema.plain_objects' executor as with
graphql-core's own, over the events page, positions, and offerings page and detail.

Both schemas are the API's; one executes with Strawberry's plain graphql-core executor. The
corpus covers aliases, inline and named fragments, @skip/@include, __typename, nulls in
nullable fields, custom scalars (datetimes, decimals, big ints, JSON), enums and nested
objects; tests/unit/api/test_plain_objects.py covers the failing cases (null in a non-null
field, refused values, erring siblings) on a schema that can produce them.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.graphql.schema import build_schema
from dpo.auth.principal import Principal
from dpo.db.feed import next_feed_sequences
from dpo.db.models import Issuer, Position
from dpo.runtime import Runtime
from dpo.settings import Settings
from resolvers.loaders import RequestLoaders
from schema.context import Context
from schema.plain_objects import PlainObjectExecutor
from schema.relay import to_global_id
from schema.shared_events import SharedExecutor
from tests.integration.db import factories
from tests.integration.services.support import admin, make_investor, make_offering

EVENT = (
    "id sequence chainId contractAddress contractName eventName blockNumber blockHash txHash "
    "logIndex args removed removesSequence blockTimestamp"
)
OFFERING = "id name isin status unitPrice currency opensAt closesAt minTicket onchainOfferingId"
CORPUS = [
    f"{{ events(first: 20) {{ pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ "
    f"{EVENT} }} }} }} }}",
    "query($s: Boolean!) { events(first: 5) { edges { node { __typename a: sequence "
    "b: sequence chainId @skip(if: $s) txHash @include(if: $s) ...E ... on ChainEvent "
    "{ removesSequence } } } } } fragment E on ChainEvent { eventName args }",
    "query($h: Address!) { positions(holder: $h, first: 20) { totalCount totals { location "
    "quantity __typename } edges { node { id holder quantity frozenQuantity location asOfBlock "
    "asOfTime offeringId } } } }",
    "query($h: Address!, $s: Boolean!) { positions(holder: $h, first: 20) { totals "
    "{ ...T } edges { node { q: quantity ... on Position { location @include(if: $s) } } } } } "
    "fragment T on LocationTotal { l: location quantity }",
    f"{{ offerings(first: 20) {{ totalCount edges {{ node {{ {OFFERING} issuer {{ id name "
    f"__typename }} totals {{ investmentsCount investorsCount amountCommitted }} }} }} }} }}",
    "query($s: Boolean!) { offerings(first: 20) { edges { node { n: name issuer "
    "{ ...I name @skip(if: $s) } totals { c: amountCommitted } } } } } "
    "fragment I on Issuer { id }",
    f"query($id: ID!) {{ offering(id: $id) {{ {OFFERING} issuer {{ id name }} totals {{ "
    f"investmentsCount investorsCount amountCommitted }} }} }}",
    "query($id: ID!) { offering(id: $id) { __typename ... on Offering { closesAt opensAt "
    "issuer { __typename n: name } } } }",
    "{ events(first: 3) { edges { __typename c: cursor node { id } n: node { sequence } } } }",
    "query($h: Address!) { positions(holder: $h, first: 2) { edges { cursor node { id "
    "__typename } } } }",
]


@pytest.fixture
async def seeded(db: AsyncSession) -> dict[str, Any]:
    issuer = Issuer(name="Parity AG", country="CH")
    offerings = [
        await make_offering(db, issuer=issuer, name=f"Series {i}", closes_at=None, isin=None)
        for i in range(3)
    ]
    investor, principal = await make_investor(db)
    assert principal.address is not None
    db.add(factories.investment(investor=investor, offering=offerings[0]))
    for i, offering in enumerate(offerings):
        for location in ("onchain", "euroclear"):
            db.add(
                Position(
                    holder_address=principal.address,
                    offering_id=offering.id,
                    location=location,
                    quantity=2**70 + i,
                    as_of_block=None if i else 12,
                )
            )
    sequences = await next_feed_sequences(db, 4)
    db.add_all([factories.chain_event(i, block_number=2**60 + i) for i in sequences])
    await db.flush()
    return {"holder": principal.address, "offering": to_global_id("Offering", offerings[1].id)}


async def run(
    schema: Any, db: AsyncSession, document: str, variables: dict[str, Any], who: Principal
) -> str:
    """The JSON of the answer, as the conftest's `gql` runs a document on the test's DB."""
    sessions = async_sessionmaker(
        bind=db.bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    runtime = Runtime(
        settings=Settings(),
        engine=None,  # type: ignore[arg-type]
        sessions=sessions,
        redis=aioredis.Redis(),
        raw_connections=sessions,  # raw reads on the test's connection too, as `gql`'s
    )
    request = Request({"type": "http", "method": "POST", "path": "/graphql", "headers": []})
    context = Context(request=request, runtime=runtime, make_loaders=RequestLoaders, principal=who)
    result = await schema.execute(document, variable_values=variables, context_value=context)
    errors = [e.formatted for e in result.errors or []]
    return json.dumps({"data": result.data, "errors": errors})


async def test_same_bytes_as_graphql_cores_executor(
    db: AsyncSession, seeded: dict[str, Any]
) -> None:
    ours, theirs = build_schema(debug=False), build_schema(debug=False)
    assert issubclass(ours.execution_context_class, PlainObjectExecutor)
    theirs.execution_context_class = StrawberryGraphQLCoreExecutionContext
    for document in CORPUS:
        for skip in (True, False):
            variables = {"h": seeded["holder"], "id": seeded["offering"], "s": skip}
            variables = {k: v for k, v in variables.items() if f"${k}:" in document}
            answers = [
                await run(schema, db, document, variables, admin()) for schema in (ours, theirs)
            ]
            assert answers[0] == answers[1], document
            assert '"errors": []' in answers[0], answers[0]
            assert answers[0].count("null") < 40, answers[0]  # rows were read


class Counting(SharedExecutor):
    parents: ClassVar[list[str]] = []

    def execute_field(self, parent_type: Any, *args: Any) -> Any:
        Counting.parents.append(parent_type.name)
        return super().execute_field(parent_type, *args)


async def test_plain_objects_of_the_pages_skip_graphql_cores_fields(
    db: AsyncSession, seeded: dict[str, Any]
) -> None:
    schema = build_schema(debug=False)
    schema.execution_context_class = Counting
    Counting.parents = []
    variables = {"h": seeded["holder"], "s": False}
    for document in (CORPUS[0], CORPUS[3], CORPUS[-1]):
        used = {k: v for k, v in variables.items() if f"${k}:" in document}
        assert '"errors": []' in await run(schema, db, document, used, admin())
    # Every field of an event, a position's node and a total is plain, and an edge is a plain
    # cursor with such a node: none went one by one.
    assert Counting.parents
    assert not {"ChainEvent", "Position", "LocationTotal"} & set(Counting.parents)
    assert not {"ChainEventEdge", "PositionEdge"} & set(Counting.parents), Counting.parents
