"""Relay connections and nodes through the real schema on PostgreSQL.

Every connection pages forwards (`first`/`after`) and backwards (`last`/`before`) over the same
rows to the same items, with the spec's pageInfo; hostile paging arguments get stable codes;
`node(id)` finds every Node type exactly when the type's own query would show it.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import ANONYMOUS, Kind, Principal
from dpo.db.feed import next_feed_sequences
from dpo.db.models import (
    CsdAccount,
    InstrumentPrice,
    IsinRequest,
    Issuer,
    JobRun,
    Position,
    ReconciliationRun,
    User,
    WebhookDelivery,
)
from dpo.services.pagination import encode_cursor
from schema.relay import to_global_id
from tests.integration.api.conftest import Execute, code
from tests.integration.db import factories
from tests.integration.services.support import (
    address,
    admin,
    issuer_staff,
    make_investor,
    make_offering,
    now,
    ops,
)

PAGE = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } }"
ARGS = "first: $first, after: $after, last: $last, before: $before"
VARS = "$first: Int, $after: String, $last: Int, $before: String"
CONNECTIONS: dict[str, str] = {
    "offerings by name": f"offerings(orderBy: {{field: NAME}}, {ARGS}) {{ {PAGE} }}",
    "offerings by opensAt desc": (
        f"offerings(orderBy: {{field: OPENS_AT, direction: DESC}}, {ARGS}) {{ {PAGE} }}"
    ),
    "offerings by createdAt": f"offerings({ARGS}) {{ {PAGE} }}",
    "issuers": f"issuers({ARGS}) {{ {PAGE} }}",
    "investors": f"investors({ARGS}) {{ {PAGE} }}",
    "investments": f"investments({ARGS}) {{ {PAGE} }}",
    "positions": f"positions({ARGS}) {{ {PAGE} }}",
    "reconciliationBreaks": f"reconciliationBreaks({ARGS}) {{ {PAGE} }}",
    "events": f"events({ARGS}) {{ {PAGE} }}",
    # No global id (the csd and account are its key): the account stands in for it here.
    "csdAccounts": (
        f"csdAccounts({ARGS}) {{ {PAGE.replace('node { id }', 'node { id: account }')} }}"
    ),
    "instrumentPrices": f"instrumentPrices({ARGS}) {{ {PAGE} }}",
    "isinRequests": f"isinRequests({ARGS}) {{ {PAGE} }}",
    "webhookDeliveries": f"webhookDeliveries({ARGS}) {{ {PAGE} }}",
}


async def seed(db: AsyncSession) -> dict[str, Any]:
    """Seven of everything, names and dates chosen to tie and to be null."""
    issuer = Issuer(name="Relay Holdings", country="DE")
    offerings = []
    for i in range(7):
        offerings.append(
            await make_offering(
                db,
                issuer=issuer,
                name=f"Series {'ABAB'[i % 4]}",
                opens_at=None if i % 3 == 0 else now() - timedelta(days=i % 2),
                status="draft" if i == 6 else "open",
            )
        )
    for i in range(6):
        db.add(Issuer(name=f"Other {i % 2}"))
    investors = [await make_investor(db) for _ in range(7)]
    for n, (investor, principal) in enumerate(investors):
        db.add(factories.investment(investor=investor, offering=offerings[n % 3]))
        assert principal.address is not None
        db.add(
            Position(
                holder_address=principal.address,
                offering_id=offerings[0].id,
                location="onchain",
                quantity=n + 1,
            )
        )
    run = ReconciliationRun()
    db.add(run)
    db.add_all([factories.reconciliation_break(run, holder=address()) for _ in range(7)])
    db.add_all([factories.chain_event(i) for i in await next_feed_sequences(db, 7)])
    db.add_all(
        [
            CsdAccount(
                csd=("euroclear", "clearstream")[i % 2],
                account=f"ACC-{6 - i}",
                holder_address=address(),
            )
            for i in range(7)
        ]
    )
    await db.flush()
    # Prices that tie on their time (newest first, then by id) and requests of each offering.
    db.add_all(
        [
            InstrumentPrice(
                isin=offerings[i % 2].isin,
                source="xetra",
                venue="XETR",
                currency="EUR",
                price=Decimal(100 + i),
                as_of=now() - timedelta(hours=i // 2),
            )
            for i in range(7)
        ]
    )
    db.add_all(
        [
            IsinRequest(offering_id=o.id, request_ref=f"DPO-OFFERING-{o.id}", status="pending")
            for o in offerings
        ]
    )
    db.add_all(
        [
            WebhookDelivery(
                provider="billbitts",
                delivery_id=f"evt_relay_{i}",
                event_type="payment.paid",
                payload={"id": f"evt_relay_{i}"},
                status=("processed", "failed")[i % 2],
            )
            for i in range(7)
        ]
    )
    await db.flush()
    return {"issuer": issuer, "offerings": offerings, "investors": investors}


async def _page(gql: Execute, name: str, principal: Principal, **arguments: Any) -> dict[str, Any]:
    field = CONNECTIONS[name]
    result = await gql(f"query({VARS}) {{ {field} }}", principal, **arguments)
    assert not result["errors"], result["errors"]
    page: dict[str, Any] = next(iter(result["data"].values()))
    return page


def _check_cursors(page: dict[str, Any]) -> list[str]:
    info, edges = page["pageInfo"], page["edges"]
    assert info["startCursor"] == (edges[0]["cursor"] if edges else None)
    assert info["endCursor"] == (edges[-1]["cursor"] if edges else None)
    return [edge["node"]["id"] for edge in edges]


async def walk_forward(gql: Execute, name: str, principal: Principal, size: int) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        page = await _page(gql, name, principal, first=size, after=after)
        seen += _check_cursors(page)
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


async def walk_backward(gql: Execute, name: str, principal: Principal, size: int) -> list[str]:
    seen: list[str] = []
    before = None
    while True:
        page = await _page(gql, name, principal, last=size, before=before)
        seen = _check_cursors(page) + seen
        assert page["pageInfo"]["hasNextPage"] is (before is not None)
        if not page["pageInfo"]["hasPreviousPage"]:
            return seen
        before = page["pageInfo"]["startCursor"]


@pytest.mark.parametrize("name", sorted(CONNECTIONS))
async def test_every_connection_pages_both_ways_to_the_same_items(
    gql: Execute, db: AsyncSession, name: str
) -> None:
    await seed(db)
    whole = _check_cursors(await _page(gql, name, admin(), first=100))
    assert len(whole) >= 7
    for size in (1, 2, 3, 100):
        assert await walk_forward(gql, name, admin(), size) == whole
        assert await walk_backward(gql, name, admin(), size) == whole
    # A page back from a forward page's start is the page before it, and says a page follows.
    middle = await _page(
        gql,
        name,
        admin(),
        first=2,
        after=(await _page(gql, name, admin(), first=3))["pageInfo"]["endCursor"],
    )
    back = await _page(gql, name, admin(), last=3, before=middle["pageInfo"]["startCursor"])
    assert _check_cursors(back) == whole[:3]
    assert back["pageInfo"]["hasNextPage"] is True
    assert back["pageInfo"]["hasPreviousPage"] is False
    # Both cursors bound the slice; `first` and `last` each take from their own end.
    end = middle["pageInfo"]["endCursor"]
    start = back["pageInfo"]["startCursor"]
    assert (
        _check_cursors(await _page(gql, name, admin(), after=start, before=end, first=10))
        == whole[1:4]
    )
    assert (
        _check_cursors(await _page(gql, name, admin(), after=start, before=end, last=2))
        == whole[2:4]
    )


async def test_issuer_offerings_page_both_ways_in_one_batch(gql: Execute, db: AsyncSession) -> None:
    world = await seed(db)
    query = f"""query($id: ID!, {VARS}) {{ issuer(id: $id) {{
        offerings(orderBy: {{field: OPENS_AT}}, {ARGS}) {{ {PAGE} }} }} }}"""
    issuer_id = to_global_id("Issuer", world["issuer"].id)

    async def page(**arguments: Any) -> dict[str, Any]:
        result = await gql(query, admin(), id=issuer_id, **arguments)
        assert not result["errors"], result["errors"]
        found: dict[str, Any] = result["data"]["issuer"]["offerings"]
        return found

    whole = _check_cursors(await page(first=100))
    assert len(whole) == 7
    forward: list[str] = []
    after = None
    while True:
        got = await page(first=2, after=after)
        forward += _check_cursors(got)
        assert got["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not got["pageInfo"]["hasNextPage"]:
            break
        after = got["pageInfo"]["endCursor"]
    backward: list[str] = []
    before = None
    while True:
        got = await page(last=3, before=before)
        backward = _check_cursors(got) + backward
        assert got["pageInfo"]["hasNextPage"] is (before is not None)
        if not got["pageInfo"]["hasPreviousPage"]:
            break
        before = got["pageInfo"]["startCursor"]
    assert forward == backward == whole


async def test_has_previous_page_is_false_when_nothing_lies_before_the_cursor(
    gql: Execute, db: AsyncSession
) -> None:
    await seed(db)
    # A cursor before every row (a forged but well-typed one): nothing precedes the page.
    before_all = encode_cursor("breaks_by_id", [0])
    page = await _page(gql, "reconciliationBreaks", admin(), first=2, after=before_all)
    assert page["pageInfo"]["hasPreviousPage"] is False
    assert page["pageInfo"]["hasNextPage"] is True
    past_all = encode_cursor("breaks_by_id", [2**63 - 1])
    page = await _page(gql, "reconciliationBreaks", admin(), last=2, before=past_all)
    assert page["pageInfo"]["hasNextPage"] is False
    assert page["pageInfo"]["hasPreviousPage"] is True
    events = await _page(gql, "events", admin(), last=2, before=str(2**63 - 1))
    assert events["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize("name", sorted(CONNECTIONS))
async def test_hostile_paging_arguments_get_stable_codes(
    gql: Execute, db: AsyncSession, name: str
) -> None:
    await seed(db)
    query = f"query({VARS}) {{ {CONNECTIONS[name]} }}"
    other = "events" if name != "events" else "issuers"
    foreign = (await _page(gql, other, admin(), first=1))["pageInfo"]["endCursor"]
    cases: list[tuple[dict[str, Any], str, str | None]] = [
        ({"first": 1, "last": 1}, "VALIDATION", "last"),
        ({"last": -1}, "VALIDATION", "last"),
        ({"first": -1}, "VALIDATION", "first"),
        ({"last": 101}, "LIMIT_EXCEEDED", "last"),
        ({"last": 2**31}, "VALIDATION", None),  # not an Int: refused by the GraphQL layer
        ({"before": "x" * 5000}, "VALIDATION", "before"),
        ({"last": 1, "before": "bm90IG91cnM="}, "VALIDATION", "before"),
        ({"last": 1, "before": foreign}, "VALIDATION", "before"),
        ({"after": foreign}, "VALIDATION", "after"),
        ({"before": to_global_id("Offering", 1)}, "VALIDATION", "before"),
    ]
    for arguments, expected, field in cases:
        result = await gql(query, admin(), **arguments)
        assert code(result) == expected, (arguments, result)
        if field is not None:
            assert result["errors"][0].get("field") == field, (arguments, result)


NODE = "query($id: ID!) { node(id: $id) { __typename id } }"


async def _node(gql: Execute, principal: Principal, global_id: str) -> str | None:
    result = await gql(NODE, principal, id=global_id)
    assert not result["errors"], result["errors"]
    node = result["data"]["node"]
    if node is None:
        return None
    assert node["id"] == global_id
    return str(node["__typename"])


async def test_node_finds_every_type_only_where_its_query_would(
    gql: Execute, db: AsyncSession
) -> None:
    world = await seed(db)
    investor, me = world["investors"][0]
    draft = world["offerings"][6]
    run = JobRun(job="relay_job", status="succeeded", started_at=now(), finished_at=now())
    staff = User(email="relay-admin@example.com", role="admin", password_hash="x")
    db.add_all([run, staff])
    await db.flush()
    sequence = (await _page(gql, "events", ANONYMOUS, first=1))["edges"][0]["node"]["id"]
    break_id = (await _page(gql, "reconciliationBreaks", ops(), first=1))["edges"][0]
    position = (await _page(gql, "positions", me, first=1))["edges"][0]["node"]["id"]
    investment = (await _page(gql, "investments", me, first=1))["edges"][0]["node"]["id"]
    someone = Principal(kind=Kind.STAFF, role="admin", user_id=staff.id)
    ops_self = Principal(kind=Kind.STAFF, role="ops", user_id=staff.id + 1000)
    _, stranger = await make_investor(db)
    ids = {
        "ChainEvent": sequence,
        "JobRun": to_global_id("JobRun", run.id),
        "User": to_global_id("User", staff.id),
        "ReconciliationBreak": break_id["node"]["id"],
        "Position": position,
        "Investment": investment,
        "Investor": to_global_id("Investor", investor.id),
        "Offering": to_global_id("Offering", draft.id),
        "Issuer": to_global_id("Issuer", world["issuer"].id),
        "InstrumentPrice": (await _page(gql, "instrumentPrices", ANONYMOUS, first=1))["edges"][0][
            "node"
        ]["id"],
        "IsinRequest": (await _page(gql, "isinRequests", admin(), first=1))["edges"][0]["node"][
            "id"
        ],
        "WebhookDelivery": (await _page(gql, "webhookDeliveries", ops(), first=1))["edges"][0][
            "node"
        ]["id"],
    }
    seen_by = {  # type -> the callers who may see that object (the others get null)
        "ChainEvent": {"anonymous", "me", "stranger", "issuer", "ops", "admin", "someone"},
        "JobRun": {"ops", "admin", "someone"},
        "User": {"admin", "someone"},
        "ReconciliationBreak": {"ops", "admin", "someone"},
        "Position": {"me", "issuer", "ops", "admin", "someone"},
        "Investment": {"me", "issuer", "ops", "admin", "someone"},
        "Investor": {"me", "issuer", "ops", "admin", "someone"},  # issuer: it invested there
        "Offering": {"issuer", "ops", "admin", "someone"},
        "Issuer": {"anonymous", "me", "stranger", "issuer", "ops", "admin", "someone"},
        "InstrumentPrice": {"anonymous", "me", "stranger", "issuer", "ops", "admin", "someone"},
        "IsinRequest": {"issuer", "ops", "admin", "someone"},  # of the issuer's offering
        "WebhookDelivery": {"ops", "admin", "someone"},
    }
    callers = {
        "anonymous": ANONYMOUS,
        "me": me,
        "stranger": stranger,
        "issuer": issuer_staff(world["issuer"].id),
        "ops": ops_self,
        "admin": admin(),
        "someone": someone,
    }
    for type_name, global_id in ids.items():
        for who, principal in callers.items():
            expected = type_name if who in seen_by[type_name] else None
            assert await _node(gql, principal, global_id) == expected, (type_name, who)
    # The direct queries agree where there is one.
    for who, principal in callers.items():
        direct = await gql(
            "query($id: ID!) { offering(id: $id) { id } }", principal, id=ids["Offering"]
        )
        assert (code(direct) is None) is (who in seen_by["Offering"]), who
        direct = await gql(
            "query($id: ID!) { investor(id: $id) { id } }", principal, id=ids["Investor"]
        )
        assert (code(direct) is None) is (who in seen_by["Investor"]), who
        runs = await gql('{ jobRuns(job: "relay_job") { id } }', principal)
        assert (code(runs) is None) is (who in seen_by["JobRun"]), who
    # The viewer's own user, by field and by node; unknown ids of every type are null.
    mine = await gql("{ viewer { userId user { id email role } } }", someone)
    assert mine["data"]["viewer"]["user"] == {
        "id": ids["User"],
        "role": "admin",
        "email": "relay-admin@example.com",
    }
    assert mine["data"]["viewer"]["userId"] == ids["User"]
    assert (await gql("{ viewer { user { id } } }", me))["data"]["viewer"]["user"] is None
    for type_name in ids:
        assert await _node(gql, admin(), to_global_id(type_name, 2**63 - 1)) is None
    assert await _node(gql, admin(), to_global_id("NoSuchType", 1)) is None
