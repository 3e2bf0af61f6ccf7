"""A page of offerings with issuer and totals costs the same few SQL statements at any size."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import event

from dpo.db.models import Investment, Investor, Issuer, Offering
from tests.integration.api.committed import Api

PAGE = """
query ($first: Int!) {
  offerings(first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id name isin issuer { id name }
                          totals { investmentsCount investorsCount amountCommitted } } }
  }
}
"""


async def seed(api: Api, count: int) -> None:
    """`count` open offerings, each of its own issuer, each with two investments."""
    async with api.runtime.sessions() as session, session.begin():
        investor = Investor(
            full_name="Grace Hopper", email=f"g{secrets.token_hex(6)}@example.com", country="US"
        )
        session.add(investor)
        for i in range(count):
            issuer = Issuer(name=f"Issuer {i}", country="DE")
            offering = Offering(
                issuer=issuer,
                isin=f"XT{secrets.token_hex(3).upper()}{i % 1000:03d}0",
                name=f"Offering {i}",
                symbol="OFF",
                security_type="equity",
                regulation="reg_s",
                currency="EUR",
                unit_price=Decimal(10),
                status="open",
                opens_at=datetime.now(UTC),
                closes_at=datetime.now(UTC) + timedelta(days=9),
            )
            session.add(offering)
            await session.flush()
            for amount in (100, 250):
                session.add(
                    Investment(
                        investor_id=investor.id,
                        offering_id=offering.id,
                        amount=Decimal(amount),
                        currency="EUR",
                        payment_reference=secrets.token_hex(8),
                    )
                )


async def statements_for_page(api: Api, first: int) -> tuple[int, dict[str, Any]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    sync_engine = api.runtime.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        result = await api.run(PAGE, first=first)
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)
    assert result["errors"] == []
    return len(statements), result["data"]


async def test_page_cost_is_constant(api: Api) -> None:
    await seed(api, 10)
    await statements_for_page(api, 100)  # warm the pool: first connects run setup queries
    small, data = await statements_for_page(api, 100)
    assert len(data["offerings"]["edges"]) == 10
    await seed(api, 90)
    large, data = await statements_for_page(api, 100)
    edges = data["offerings"]["edges"]
    assert len(edges) == 100
    assert data["offerings"]["totalCount"] == 100
    assert all(
        e["node"]["totals"]
        == {"investmentsCount": 2, "investorsCount": 1, "amountCommitted": "350"}
        for e in edges
    )
    assert len({e["node"]["issuer"]["id"] for e in edges}) == 100
    assert small == large
    # The page with its count (one statement), then the issuers and totals (one statement).
    assert large == 2


ISSUERS = """
query ($first: Int!) {
  issuers(first: $first) {
    totalCount
    edges { node { id name
      offerings(first: 5) { totalCount pageInfo { hasNextPage }
        edges { node { id issuer { id } totals { investmentsCount } } } } } }
  }
}
"""


async def statements_for(api: Api, document: str, **variables: Any) -> tuple[int, dict[str, Any]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    sync_engine = api.runtime.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        result = await api.run(document, **variables)
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)
    assert result["errors"] == []
    return len(statements), result["data"]


async def test_an_empty_page_still_counts(api: Api) -> None:
    await seed(api, 2)
    first = await api.run(
        "{ offerings(last: 1) { totalCount pageInfo { endCursor } } }",
    )
    end = first["data"]["offerings"]["pageInfo"]["endCursor"]
    after = await api.run(
        "query ($after: String!) { offerings(first: 5, after: $after) { totalCount edges "
        "{ cursor } } }",
        after=end,
    )
    assert after["errors"] == []
    # No row to carry the count: it is asked on its own, and agrees.
    assert after["data"]["offerings"] == {
        "totalCount": first["data"]["offerings"]["totalCount"],
        "edges": [],
    }


async def test_issuers_with_their_offerings_cost_constant_statements(api: Api) -> None:
    await seed(api, 100)
    await statements_for(api, ISSUERS, first=100)
    small, data = await statements_for(api, ISSUERS, first=5)
    assert len(data["issuers"]["edges"]) == 5
    large, data = await statements_for(api, ISSUERS, first=100)
    edges = data["issuers"]["edges"]
    assert len(edges) == 100
    assert data["issuers"]["totalCount"] >= 100
    for edge in edges:
        page = edge["node"]["offerings"]
        assert page["totalCount"] == len(page["edges"]) == 1
        assert page["pageInfo"]["hasNextPage"] is False
        assert page["edges"][0]["node"]["issuer"]["id"] == edge["node"]["id"]
        assert page["edges"][0]["node"]["totals"] == {"investmentsCount": 2}
    assert small == large
    # The issuers, their count, the offering pages, their counts, the issuers again, totals.
    assert large <= 6
