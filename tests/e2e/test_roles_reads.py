"""Every query through a real uvicorn server, as every role: what each may see or is refused.

One server and one seeded database for the module; reads change nothing (checked at the end).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from dpo.db.models import Investment
from tests.e2e.http_seed import World, seed
from tests.e2e.http_world import ROLES, Caller, code_of, fingerprint, serve
from tests.integration.api.committed import Api

STAFF = ("admin", "ops", "api_key")
ALL_OFFERINGS = {
    "Acme Open",
    "Acme Draft",
    "Acme Settle",
    "Acme Unsettled",
    "Bolt Open",
    "Bolt Draft",
    "Ghost Draft",
}
CLOSED = {"Acme Settle", "Acme Unsettled"}
PUBLIC = {"Acme Open", "Bolt Open"}


@dataclass(frozen=True)
class Err:
    """A refusal with this extensions.code."""

    code: str


@dataclass(frozen=True)
class Case:
    """A document, its variables from the world, what to compare, and per role the answer."""

    document: str
    expect: dict[str, Any]
    pick: Callable[[dict[str, Any]], Any] = lambda data: data
    variables: Callable[[World], dict[str, Any]] = lambda world: {}


def names(connection: dict[str, Any]) -> set[str]:
    return {edge["node"]["name"] for edge in connection["edges"]}


def issuer_map(data: dict[str, Any]) -> dict[str, set[str]]:
    return {e["node"]["name"]: names(e["node"]["offerings"]) for e in data["issuers"]["edges"]}


def every(value: Any, *, but: dict[str, Any] | None = None) -> dict[str, Any]:
    return dict.fromkeys(ROLES, value) | (but or {})


def staff(value: Any, *, others: Any, **roles: Any) -> dict[str, Any]:
    return every(others, but={**dict.fromkeys(STAFF, value), **roles})


UNAUTH, FORBIDDEN, NOT_FOUND = Err("UNAUTHENTICATED"), Err("FORBIDDEN"), Err("NOT_FOUND")
ISSUERS_BY_ROLE = {
    "anonymous": {"Acme": {"Acme Open"}, "Bolt": {"Bolt Open"}},
    "investor": {"Acme": {"Acme Open", *CLOSED}, "Bolt": {"Bolt Open"}},
    "other_investor": {"Acme": {"Acme Open", *CLOSED}, "Bolt": {"Bolt Open"}},
    "issuer": {"Acme": {"Acme Open", "Acme Draft", *CLOSED}, "Bolt": {"Bolt Open"}},
    "other_issuer": {"Acme": {"Acme Open"}, "Bolt": {"Bolt Open", "Bolt Draft"}},
    **{
        role: {
            "Acme": ALL_OFFERINGS - {"Bolt Open", "Bolt Draft", "Ghost Draft"},
            "Bolt": {"Bolt Open", "Bolt Draft"},
            "Ghost": {"Ghost Draft"},
        }
        for role in STAFF
    },
}


def node_case(type_name: str, row: str, expect: dict[str, Any]) -> Case:
    return Case(
        "query($id: ID!) { node(id: $id) { id } }",
        expect,
        lambda d: d["node"] is not None,
        lambda w: {"id": w.gid(type_name, row)},
    )


CASES: dict[str, Case] = {
    "status": Case("{ status { version } }", every(True), lambda d: bool(d["status"]["version"])),
    "viewer": Case(
        "{ viewer { role } }",
        {
            "anonymous": "anonymous",
            "investor": "investor",
            "other_investor": "investor",
            "issuer": "issuer",
            "other_issuer": "issuer",
            "admin": "admin",
            "ops": "ops",
            "api_key": "ops",
        },
        lambda d: d["viewer"]["role"],
    ),
    "nonce": Case("{ nonce { value } }", every(32), lambda d: len(d["nonce"]["value"])),
    "offerings": Case(
        "{ offerings(first: 100) { totalCount edges { node { name } } } }",
        {
            "anonymous": PUBLIC,
            "investor": PUBLIC | CLOSED,
            "other_investor": PUBLIC | CLOSED,
            "issuer": PUBLIC | CLOSED | {"Acme Draft"},
            "other_issuer": PUBLIC | {"Bolt Draft"},
            **dict.fromkeys(STAFF, ALL_OFFERINGS),
        },
        lambda d: names(d["offerings"]),
    ),
    "offering_draft": Case(
        "query($id: ID) { offering(id: $id) { name } }",
        staff("Acme Draft", others=NOT_FOUND, issuer="Acme Draft"),
        lambda d: d["offering"]["name"],
        lambda w: {"id": w.gid("Offering", "acme_draft")},
    ),
    "node_offering_closed": Case(
        "query($id: ID!) { node(id: $id) { ... on Offering { isin } } }",
        every(True, but={"anonymous": False, "other_issuer": False}),
        lambda d: d["node"] is not None,
        lambda w: {"id": w.gid("Offering", "acme_settle")},
    ),
    "issuers": Case(
        "{ issuers(first: 100) { totalCount edges { node { name "
        "offerings(first: 10) { totalCount edges { node { name } } } } } } }",
        ISSUERS_BY_ROLE,
        issuer_map,
    ),
    "issuers_search_paged": Case(
        '{ issuers(search: "CM", first: 1) { totalCount pageInfo { hasNextPage } edges { node {'
        " name offerings(first: 1, orderBy: {field: NAME, direction: DESC}) {"
        " pageInfo { hasNextPage } edges { node { name } } } } } } }",
        every(
            ("Acme", False, ["Acme Open"], False),
            but=dict.fromkeys(
                ("investor", "other_investor", "issuer", *STAFF),
                ("Acme", False, ["Acme Unsettled"], True),
            ),
        ),
        lambda d: (
            d["issuers"]["edges"][0]["node"]["name"],
            d["issuers"]["pageInfo"]["hasNextPage"],
            [e["node"]["name"] for e in d["issuers"]["edges"][0]["node"]["offerings"]["edges"]],
            d["issuers"]["edges"][0]["node"]["offerings"]["pageInfo"]["hasNextPage"],
        ),
    ),
    "issuer_hidden": Case(
        "query($id: ID!) { issuer(id: $id) { name } }",
        staff("Ghost", others=NOT_FOUND),
        lambda d: d["issuer"]["name"],
        lambda w: {"id": w.gid("Issuer", "ghost")},
    ),
    "issuer_own_drafts": Case(
        "query($id: ID!) { issuer(id: $id) { offerings(status: DRAFT) { totalCount } } }",
        every(0, but={"issuer": 1, **dict.fromkeys(STAFF, 1)}),
        lambda d: d["issuer"]["offerings"]["totalCount"],
        lambda w: {"id": w.gid("Issuer", "acme")},
    ),
    "investors": Case(
        "{ investors(first: 100) { totalCount } }",
        staff(3, others=1, anonymous=UNAUTH, issuer=2),
        lambda d: d["investors"]["totalCount"],
    ),
    "investor": Case(
        "query($id: ID!) { investor(id: $id) { fullName } }",
        staff("Ada", others=FORBIDDEN, anonymous=UNAUTH, investor="Ada", issuer="Ada"),
        lambda d: d["investor"]["fullName"],
        lambda w: {"id": w.gid("Investor", "investor")},
    ),
    "me": Case(
        "{ me { fullName } }",
        every(None, but={"anonymous": UNAUTH, "investor": "Ada", "other_investor": "Bob"}),
        lambda d: d["me"] and d["me"]["fullName"],
    ),
    "investments": Case(
        "{ investments(first: 100) { totalCount } }",
        staff(4, others=2, anonymous=UNAUTH, issuer=3, other_issuer=1),
        lambda d: d["investments"]["totalCount"],
    ),
    "investments_by_tx": Case(
        "query($tx: Bytes32) { investments(txHash: $tx) { edges { node { paymentReference } } } }",
        staff(
            ["DPO-E2E-0002"],
            others=[],
            anonymous=UNAUTH,
            other_investor=["DPO-E2E-0002"],
            other_issuer=["DPO-E2E-0002"],
        ),
        lambda d: [e["node"]["paymentReference"] for e in d["investments"]["edges"]],
        lambda w: {"tx": w.addresses["other_tx"]},
    ),
    "positions": Case(
        "{ positions { totalCount totals { location quantity } } }",
        staff(2, others=1, anonymous=UNAUTH),
        lambda d: d["positions"]["totalCount"],
    ),
    "positions_of_another": Case(
        "query($h: Address) { positions(holder: $h) { totalCount } }",
        staff(1, others=FORBIDDEN, anonymous=UNAUTH, other_investor=1, issuer=0, other_issuer=1),
        lambda d: d["positions"]["totalCount"],
        lambda w: {"h": w.addresses["other_investor"]},
    ),
    "fx_rates": Case(
        '{ fxRates(base: "EUR") { quote rate } }',
        every(["USD"]),
        lambda d: [r["quote"] for r in d["fxRates"]],
    ),
    "breaks": Case(
        "{ reconciliationBreaks { totalCount } }",
        staff(2, others=FORBIDDEN, anonymous=UNAUTH),
        lambda d: d["reconciliationBreaks"]["totalCount"],
    ),
    "job_runs": Case(
        "{ jobRuns { job status } }",
        staff(["fx_rates"], others=FORBIDDEN, anonymous=UNAUTH),
        lambda d: [r["job"] for r in d["jobRuns"]],
    ),
    "webhook_deliveries": Case(
        "{ webhookDeliveries { totalCount } }",
        staff(0, others=FORBIDDEN, anonymous=UNAUTH),
        lambda d: d["webhookDeliveries"]["totalCount"],
    ),
    "csd_accounts": Case(
        "{ csdAccounts { totalCount } }",
        staff(0, others=FORBIDDEN, anonymous=UNAUTH),
        lambda d: d["csdAccounts"]["totalCount"],
    ),
    "instrument_prices": Case(
        "{ instrumentPrices { totalCount } }",
        every(0),
        lambda d: d["instrumentPrices"]["totalCount"],
    ),
    "isin_requests": Case(
        "{ isinRequests { totalCount } }",
        staff(0, others=FORBIDDEN, anonymous=UNAUTH, issuer=0, other_issuer=0),
        lambda d: d["isinRequests"]["totalCount"],
    ),
    "events": Case(
        "{ events(first: 5) { hasNextPage edges { cursor } } }",
        every(False),
        lambda d: d["events"]["hasNextPage"],
    ),
    "node_investor": node_case(
        "Investor", "investor", staff(True, others=False, investor=True, issuer=True)
    ),
    "node_investment": node_case(
        "Investment",
        "other_order",
        staff(True, others=False, other_investor=True, other_issuer=True),
    ),
    "node_position": node_case(
        "Position", "position", staff(True, others=False, investor=True, issuer=True)
    ),
    "node_break": node_case("ReconciliationBreak", "break", staff(True, others=False)),
    "node_issuer": node_case("Issuer", "ghost", staff(True, others=False)),
}


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    world = await seed(api)
    async with api.runtime.sessions() as session:
        world.addresses["other_tx"] = str(
            await session.scalar(
                select(Investment.tx_hash).where(Investment.id == world.ids["other_order"])
            )
        )
    return world


@pytest.fixture(scope="module")
async def callers(api: Api, world: World, redis_url: str) -> AsyncIterator[dict[str, Caller]]:
    async with serve(api, world, redis_url) as callers:
        yield callers


@pytest.fixture(scope="module")
async def before(api: Api, callers: dict[str, Caller]) -> dict[str, str]:
    return await fingerprint(api)


@pytest.mark.parametrize(("case", "role"), [(c, r) for c in CASES for r in ROLES])
async def test_each_query_as_each_role(
    case: str, role: str, world: World, callers: dict[str, Caller], before: dict[str, str]
) -> None:
    spec = CASES[case]
    expected = spec.expect[role]
    response = await callers[role].post(spec.document, **spec.variables(world))
    body = response.json()
    if isinstance(expected, Err):
        assert code_of(response) == expected.code, body
        assert body["data"] is None or all(v is None for v in body["data"].values())
    else:
        assert response.status_code == 200, body
        assert not body.get("errors"), body
        assert spec.pick(body["data"]) == expected


async def test_reads_changed_nothing(
    api: Api, callers: dict[str, Caller], before: dict[str, str]
) -> None:
    await callers["admin"].post("{ offerings { totalCount } }")
    assert await fingerprint(api) == before
