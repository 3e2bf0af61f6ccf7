"""Bad input for every scalar, and every GraphQL limit, through a real uvicorn server.

Each refusal carries the right extensions.code and leaves every table as it was; mutations
are the interesting half: a refused document must not run any part of itself.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import text

from tests.e2e.http_seed import World, new_isin, seed
from tests.e2e.http_world import Caller, code_of, fingerprint, serve
from tests.integration.api.committed import Api

CREATE = "mutation($i: CreateOfferingInput!) { createOffering(input: $i) { id } }"
SUBMIT = "mutation($i: SubmitInvestmentInput!) { submitInvestment(input: $i) { id } }"
ACCREDIT = """mutation($id: ID!, $e: DateTime) {
  setAccreditation(investorId: $id, status: VERIFIED, expiresAt: $e) { id } }"""
FILTER = "query($f: OfferingFilter) { offerings(filter: $f) { totalCount } }"
Vars = Callable[[World], dict[str, Any]]


def offering_input(w: World, **bad: Any) -> dict[str, Any]:
    return {
        "i": {
            "issuerId": w.gid("Issuer", "acme"),
            "isin": new_isin(),
            "name": "Bad",
            "symbol": "BAD",
            "securityType": "EQUITY",
            "regulation": "REG_S",
            "currency": "EUR",
            "unitPrice": "10",
            **bad,
        }
    }


def create(**bad: Any) -> tuple[str, str, Vars]:
    return ("admin", CREATE, lambda w: offering_input(w, **bad))


def submit(**bad: Any) -> tuple[str, str, Vars]:
    return (
        "investor",
        SUBMIT,
        lambda w: {
            "i": {
                "offeringId": w.gid("Offering", "acme_open"),
                "amount": "20",
                "currency": "EUR",
                **bad,
            }
        },
    )


def accredit(expires_at: Any) -> tuple[str, str, Vars]:
    return ("admin", ACCREDIT, lambda w: {"id": w.gid("Investor", "investor"), "e": expires_at})


def query(document: str, **variables: Any) -> tuple[str, str, Vars]:
    return ("admin", document, lambda w: variables)


SCALARS: dict[str, list[tuple[str, str, Vars]]] = {
    "BigInt": [
        query(FILTER, f={"onchainOfferingId": v})
        for v in ("1.5", 1.5, "abc", "", str(2**256), True, "0x10")
    ],
    "Decimal": [
        create(unitPrice=v)
        for v in ("NaN", "Infinity", "1e5", 1.5, "", "1,5", "0." + "1" * 19, "1" * 21)
    ]
    + [submit(amount=v) for v in ("NaN", "-", 20)],
    "DateTime": [
        create(opensAt=v)
        for v in (
            "2030-01-01",
            "2030-01-01T00:00:00",
            "tomorrow",
            1700000000,
            "2030-13-01T00:00:00Z",
        )
    ]
    + [accredit(v) for v in ("2099-01-01", "2099-01-01 00:00")],
    "Address": [
        query("query($h: Address) { positions(holder: $h) { totalCount } }", h=v)
        for v in (
            "0x1234",
            "0x" + "zz" * 20,
            "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            12,
        )
    ]
    + [query("query($a: Address) { nonce(address: $a) { value } }", a="0x12")],
    "Bytes32": [
        query("query($t: Bytes32) { investments(txHash: $t) { totalCount } }", t=v)
        for v in ("0x12", "0x" + "g" * 64, "ab" * 32, "0x" + "ab" * 33, 1)
    ],
    "ISIN": [create(isin=v) for v in ("US0378331006", "DE000BASF112", "XS12", "1234567890AB", "")]
    + [query("query($i: ISIN) { offering(isin: $i) { id } }", i="US0378331006")],
    "CurrencyCode": [create(currency=v) for v in ("EURO", "XXY", "12A", "", 978)]
    + [
        submit(currency="EURO"),
        query("query($c: CurrencyCode) { fxRates(base: $c) { rate } }", c="ZZZ"),
    ],
}
BAD_INPUTS = [
    (scalar, i, *case) for scalar, cases in SCALARS.items() for i, case in enumerate(cases)
]
CONNECTIONS = [
    "offerings(first: {n}) {{ totalCount }}",
    "issuers(first: {n}) {{ totalCount }}",
    "investors(first: {n}) {{ totalCount }}",
    "investments(first: {n}) {{ totalCount }}",
    "positions(first: {n}) {{ totalCount }}",
    "reconciliationBreaks(first: {n}) {{ totalCount }}",
    "events(first: {n}) {{ hasNextPage }}",
    "jobRuns(first: {n}) {{ job }}",
    "issuers {{ edges {{ node {{ offerings(first: {n}) {{ totalCount }} }} }} }}",
]


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    return await seed(api)


@pytest.fixture(scope="module")
async def callers(api: Api, world: World, redis_url: str) -> AsyncIterator[dict[str, Caller]]:
    async with serve(api, world, redis_url) as callers:
        yield callers


@pytest.mark.parametrize(
    ("scalar", "n", "role", "document", "variables"),
    BAD_INPUTS,
    ids=[f"{s}-{n}" for s, n, *_ in BAD_INPUTS],
)
async def test_bad_scalar_is_refused_and_changes_nothing(
    api: Api,
    world: World,
    callers: dict[str, Caller],
    scalar: str,
    n: int,
    role: str,
    document: str,
    variables: Vars,
) -> None:
    before = await fingerprint(api)
    response = await callers[role].post(document, **variables(world))
    body = response.json()
    assert response.status_code == 200, body
    assert code_of(response) == "VALIDATION", body
    assert body["data"] is None
    assert scalar in body["errors"][0]["message"] or "check digit" in body["errors"][0]["message"]
    assert await fingerprint(api) == before


async def test_good_scalars_are_accepted(world: World, callers: dict[str, Caller]) -> None:
    """The same positions take well-formed values, so the refusals above are about the values."""
    checksummed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    data = await callers["admin"].data(
        "query($f: OfferingFilter, $h: Address, $t: Bytes32, $c: CurrencyCode) {"
        " offerings(filter: $f) { totalCount } positions(holder: $h) { totalCount }"
        " investments(txHash: $t) { totalCount } fxRates(base: $c) { rate } }",
        f={"onchainOfferingId": str(2**255), "currency": "eur"},
        h=checksummed.lower(),
        t="0x" + "AB" * 32,
        c="EUR",
    )
    assert data["offerings"]["totalCount"] == 0
    assert data["investments"]["totalCount"] == 0


@pytest.mark.parametrize("connection", CONNECTIONS)
async def test_page_size_is_capped_on_every_connection(
    callers: dict[str, Caller], connection: str
) -> None:
    too_many = await callers["admin"].post("{ " + connection.format(n=101) + " }")
    negative = await callers["admin"].post("{ " + connection.format(n=-1) + " }")
    most = await callers["admin"].post("{ " + connection.format(n=100) + " }")
    assert code_of(too_many) == "LIMIT_EXCEEDED", too_many.text
    assert code_of(negative) == "VALIDATION", negative.text
    assert code_of(most) is None, most.text


def kyc_aliases(w: World, count: int) -> str:
    target = w.gid("Investor", "pending_investor")
    return (
        "mutation { "
        + " ".join(
            f'k{i}: approveKyc(investorId: "{target}") {{ kycStatus }}' for i in range(count)
        )
        + " }"
    )


async def declared_too_big(base: str, query: str, headers: dict[str, str]) -> int:
    """Status of a POST declaring a body over the limit; the server answers before reading it
    (a client still writing the body would race the server closing the connection)."""
    host, port = base.removeprefix("http://").rstrip("/").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    start = json.dumps({"query": query}).encode()
    lines = [
        b"POST /graphql HTTP/1.1",
        f"Host: {host}:{port}".encode(),
        b"Content-Type: application/json",
        f"Content-Length: {1024 * 1024 + 1}".encode(),
        *(f"{k}: {v}".encode() for k, v in headers.items()),
        b"",
        start,
    ]
    writer.write(b"\r\n".join(lines))
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    writer.close()
    return status


async def test_limits_refuse_whole_mutations(
    api: Api, world: World, callers: dict[str, Caller]
) -> None:
    admin, target = callers["admin"], world.gid("Investor", "pending_investor")
    client = admin.client
    draft = world.gid("Offering", "acme_draft")
    nested = (
        f'mutation {{ openOffering(id: "{draft}") {{ issuer {{ offerings {{ edges {{ '
        "node { issuer { offerings { edges { node { issuer { offerings { edges { node "
        "{ id } } } } } } } } } } } } } }"
    )
    tokens = f'mutation {{ approveKyc(investorId: "{target}") {{ ' + "id " * 2100 + "} }"
    single = {"query": f'mutation {{ approveKyc(investorId: "{target}") {{ id }} }}'}
    before = await fingerprint(api)
    answers = {
        "aliases": await admin.post(kyc_aliases(world, 16)),
        "depth": await admin.post(nested),
        "tokens": await admin.post(tokens),
    }
    batch = await client.post("/graphql", json=[single, single], headers=admin.headers)
    by_get = await client.get("/graphql", params={"query": single["query"]}, headers=admin.headers)
    too_big = await declared_too_big(str(client.base_url), single["query"], admin.headers)
    assert {name: code_of(r) for name, r in answers.items()} == dict.fromkeys(
        answers, "LIMIT_EXCEEDED"
    )
    assert all(r.json()["data"] is None for r in answers.values())
    assert batch.status_code == 400
    assert by_get.status_code in (400, 405)
    assert too_big == 413
    assert await fingerprint(api) == before
    # The same mutation within the limits runs (and is the only change).
    allowed = await admin.post(single["query"])
    assert code_of(allowed) is None, allowed.text
    assert await fingerprint(api) != before


async def test_production_hides_the_schema_and_suggestions(
    api: Api, world: World, redis_url: str
) -> None:
    async with serve(
        api, world, redis_url, ENVIRONMENT="production", ALLOWED_HOSTS="127.0.0.1"
    ) as callers:
        admin = callers["admin"]
        introspection = await admin.post("{ __schema { types { name } } }")
        typo = await admin.post("{ offerings { totalCont } }")
        typed = await admin.post('{ __type(name: "Offering") { fields { name } } }')
    assert code_of(introspection) == "VALIDATION"
    assert introspection.json()["data"] is None
    assert code_of(typed) == "VALIDATION"
    assert "totalCont" in typo.json()["errors"][0]["message"]
    assert "Did you mean" not in typo.text


async def test_execution_time_limit_stops_work_and_changes_nothing(
    api: Api, world: World, redis_url: str
) -> None:
    resolve = """mutation($id: ID!) { resolveBreak(id: $id) { status } }"""
    async with serve(api, world, redis_url, GRAPHQL_EXECUTION_SECONDS="1") as callers:
        ops = callers["ops"]
        before = await fingerprint(api)
        # Another transaction holds the table, so both operations wait past the limit.
        async with api.runtime.engine.begin() as holder:
            await holder.execute(text("LOCK TABLE reconciliation_breaks IN ACCESS EXCLUSIVE MODE"))
            mutation, read = await asyncio.gather(
                ops.post(resolve, id=world.gid("ReconciliationBreak", "break")),
                ops.post("{ reconciliationBreaks { totalCount } }"),
            )
        after = await fingerprint(api)
        quick = await ops.post("{ reconciliationBreaks { totalCount } }")
    for response in (mutation, read):
        assert code_of(response) == "LIMIT_EXCEEDED", response.text
        assert "longer than 1 s" in response.json()["errors"][0]["message"]
        assert response.json()["data"] is None
    assert after == before
    assert code_of(quick) is None
