"""Inputs that used to reach the server's error path (INTERNAL, HTTP 500, a logged traceback).

Each class is answered with VALIDATION or the right 4xx, leaves every table as it was, and
logs nothing at ERROR: text PostgreSQL cannot store, global ids past BIGINT, forged cursors,
feed cursors past 64 bits, digits that are not ASCII, an amount whose units overflow
Decimal's default context, request bodies that are not a JSON object, and WebSocket messages
of the wrong shape (closed with 4400, never dropped).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import text

from dpo.db.models import Offering
from tests.e2e.http_seed import World, new_isin, seed
from tests.e2e.http_world import Caller, code_of, error_lines, fingerprint, serve
from tests.integration.api.committed import Api
from tests.integration.streaming.wsclient import LEGACY_WS, TRANSPORT_WS, open_socket

pytestmark = pytest.mark.timeout(300)
Vars = Callable[[World], dict[str, Any]]
NUL = "nul\x00here"
SURROGATE = "lone\ud800"


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    world = await seed(api)
    async with api.runtime.sessions() as session, session.begin():
        acme = await session.get(Offering, world.ids["acme_open"])
        assert acme is not None
        # An open offering whose unit price is the smallest NUMERIC(38, 18) holds, and a small
        # hard cap: a large order's units overflow Decimal's default 28 digits.
        tiny = Offering(
            issuer_id=acme.issuer_id,
            isin=new_isin(),
            name="Tiny",
            symbol="TINY",
            security_type="equity",
            regulation="reg_s",
            currency="EUR",
            unit_price=Decimal("0.000000000000000001"),
            hard_cap=Decimal(10),
            soft_cap=Decimal(0),
            opens_at=datetime.now(UTC) - timedelta(days=1),
            closes_at=datetime.now(UTC) + timedelta(days=30),
            status="open",
            allowed_countries=[],
        )
        session.add(tiny)
        await session.flush()
        world.ids["tiny"] = tiny.id
    return world


@pytest.fixture(scope="module")
def log_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile") / "web.log"


@pytest.fixture(scope="module")
async def callers(
    api: Api, world: World, redis_url: str, log_path: Path
) -> AsyncIterator[dict[str, Caller]]:
    async with serve(api, world, redis_url, log_path=log_path) as callers:
        yield callers


def log_size(path: Path) -> int:
    return path.stat().st_size


async def _audit_actions_after(api: Api, last_id: int) -> list[str]:
    async with api.runtime.sessions() as session:
        return list(
            (
                await session.scalars(
                    text("SELECT action FROM audit_log WHERE id > :i ORDER BY id"), {"i": last_id}
                )
            ).all()
        )


@pytest.fixture
async def unchanged(api: Api, log_path: Path) -> AsyncIterator[None]:
    """The test changes no table and the server logs nothing at ERROR meanwhile.

    The one row a refusal may add is the audit of a refused sign-in (auth.sign_in_refused).
    """
    before = await fingerprint(api)
    async with api.runtime.sessions() as session:
        last_audit = int(
            await session.scalar(text("SELECT coalesce(max(id), 0) FROM audit_log")) or 0
        )
    start = log_size(log_path)
    yield
    after = await fingerprint(api)
    assert {t: h for t, h in after.items() if t != "audit_log"} == {
        t: h for t, h in before.items() if t != "audit_log"
    }
    assert set(await _audit_actions_after(api, last_audit)) <= {"auth.sign_in_refused"}
    assert error_lines(log_path, start) == []


def refused(response: httpx.Response, code: str = "VALIDATION", status: int = 200) -> str:
    """The response's one error code, checked; the message for further checks."""
    body = response.json()
    assert response.status_code == status, response.text
    assert code_of(response) == code, response.text
    assert not body.get("data") or all(v is None for v in body["data"].values()), body
    return str(body["errors"][0]["message"])


async def post_escaped(caller: Caller, document: str, variables: dict[str, Any]) -> httpx.Response:
    """POST with JSON's \\u escapes (httpx writes raw UTF-8, which cannot carry a surrogate)."""
    body = json.dumps({"query": document, "variables": variables}).encode()
    return await caller.client.post(
        "/graphql", content=body, headers={**caller.headers, "Content-Type": "application/json"}
    )


# --- text PostgreSQL cannot store: every String argument that is stored or compared ----------

CREATE = "mutation($i: CreateOfferingInput!) { createOffering(input: $i) { id } }"
UPDATE = "mutation($i: UpdateOfferingInput!) { updateOffering(input: $i) { id } }"
REGISTER = "mutation($i: RegisterInvestorInput!) { registerInvestor(input: $i) { id } }"
PROFILE = "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { id } }"


def _create(w: World, **bad: Any) -> dict[str, Any]:
    return {
        "i": {
            "issuerId": w.gid("Issuer", "acme"),
            "isin": new_isin(),
            "name": "N",
            "symbol": "S",
            "securityType": "EQUITY",
            "regulation": "REG_S",
            "currency": "EUR",
            "unitPrice": "10",
            **bad,
        }
    }


def _register(w: World, **bad: Any) -> dict[str, Any]:
    return {
        "i": {
            "fullName": "New",
            "email": f"n{secrets.token_hex(4)}@example.com",
            "country": "DE",
            "isUsPerson": False,
            **bad,
        }
    }


def text_fields(bad: str) -> dict[str, tuple[str, str, Vars]]:
    """Every String argument that reaches SQL, with `bad` in it: (role, document, variables)."""
    return {
        "staffSignIn.email": (
            "anonymous",
            'mutation($e: String!) { staffSignIn(email: $e, password: "x") { accessToken } }',
            lambda w: {"e": f"a{bad}@example.com"},
        ),
        "signIn.message": (
            "anonymous",
            'mutation($m: String!) { signIn(message: $m, signature: "0x00") { accessToken } }',
            lambda w: {"m": bad},
        ),
        "refreshToken": (
            "anonymous",
            "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
            lambda w: {"t": bad},
        ),
        "registerInvestor.fullName": ("new_wallet", REGISTER, lambda w: _register(w, fullName=bad)),
        "registerInvestor.email": (
            "new_wallet",
            REGISTER,
            lambda w: _register(w, email=f"a{bad}@example.com"),
        ),
        "updateProfile.fullName": ("investor", PROFILE, lambda w: {"i": {"fullName": bad}}),
        "updateProfile.email": (
            "investor",
            PROFILE,
            lambda w: {"i": {"email": f"a{bad}@example.com"}},
        ),
        "createOffering.name": ("admin", CREATE, lambda w: _create(w, name=bad)),
        "createOffering.symbol": ("admin", CREATE, lambda w: _create(w, symbol=bad)),
        "createOffering.description": ("admin", CREATE, lambda w: _create(w, description=bad)),
        "updateOffering.name": (
            "admin",
            UPDATE,
            lambda w: {"i": {"id": w.gid("Offering", "acme_draft"), "name": bad}},
        ),
        "offerings.search": (
            "anonymous",
            "query($s: String) { offerings(filter: {search: $s}) { totalCount } }",
            lambda w: {"s": bad},
        ),
        "issuers.search": (
            "anonymous",
            "query($s: String) { issuers(search: $s) { totalCount } }",
            lambda w: {"s": bad},
        ),
        "jobRuns.job": (
            "ops",
            "query($j: String) { jobRuns(job: $j) { job } }",
            lambda w: {"j": bad},
        ),
        "events.contract": (
            "anonymous",
            "query($c: String) { events(filter: {contract: $c}) { hasNextPage } }",
            lambda w: {"c": bad},
        ),
        "events.eventName": (
            "anonymous",
            "query($c: String) { events(filter: {eventName: $c}) { hasNextPage } }",
            lambda w: {"c": bad},
        ),
        "mapCsdAccount.account": (
            "ops",
            "mutation($a: String!) { mapCsdAccount(csd: "
            'EUROCLEAR, account: $a, holder: "0x' + "ab" * 20 + '") '
            "{ changed } }",
            lambda w: {"a": f"A{bad}"},
        ),
        "unmapCsdAccount.account": (
            "ops",
            "mutation($a: String!) { unmapCsdAccount(csd: EUROCLEAR, account: $a) { account } }",
            lambda w: {"a": f"A{bad}"},
        ),
        "runJob.name": (
            "admin",
            "mutation($n: String!) { runJob(name: $n) { id } }",
            lambda w: {"n": bad},
        ),
        "resolveBreak.note": (
            "ops",
            "mutation($id: ID!, $n: String) { resolveBreak(id: $id, note: $n) { status } }",
            lambda w: {"id": w.gid("ReconciliationBreak", "break"), "n": bad},
        ),
    }


TEXT_CASES = [
    (kind, name, *case)
    for kind, bad in (("nul", NUL), ("surrogate", SURROGATE))
    for name, case in text_fields(bad).items()
]


@pytest.mark.parametrize(
    ("kind", "field", "role", "document", "variables"),
    TEXT_CASES,
    ids=[f"{k}-{f}" for k, f, *_ in TEXT_CASES],
)
async def test_unstorable_text_is_refused(
    world: World,
    callers: dict[str, Caller],
    unchanged: None,
    kind: str,
    field: str,
    role: str,
    document: str,
    variables: Vars,
) -> None:
    message = refused(await post_escaped(callers[role], document, variables(world)))
    assert ("NUL" if kind == "nul" else "surrogate") in message


async def test_unstorable_text_in_a_literal_is_refused(
    callers: dict[str, Caller], unchanged: None
) -> None:
    response = await callers["anonymous"].post('{ issuers(search: "a\\u0000b") { totalCount } }')
    assert "NUL" in refused(response)


# --- global ids past PostgreSQL's BIGINT ---------------------------------------------------


def gid(type_name: str, raw: str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{raw}".encode()).decode()


ID_ARGUMENTS: dict[str, tuple[str, str, str, Callable[[World, str], dict[str, Any]]]] = {
    # name: (role, type, document, variables of a bad id)
    "node": (
        "admin",
        "Offering",
        "query($id: ID!) { node(id: $id) { id } }",
        lambda w, i: {"id": i},
    ),
    "offering": (
        "admin",
        "Offering",
        "query($id: ID) { offering(id: $id) { id } }",
        lambda w, i: {"id": i},
    ),
    "issuer": (
        "admin",
        "Issuer",
        "query($id: ID!) { issuer(id: $id) { id } }",
        lambda w, i: {"id": i},
    ),
    "investor": (
        "admin",
        "Investor",
        "query($id: ID!) { investor(id: $id) { id } }",
        lambda w, i: {"id": i},
    ),
    "approveKyc": (
        "admin",
        "Investor",
        "mutation($id: ID!) { approveKyc(investorId: $id) { id } }",
        lambda w, i: {"id": i},
    ),
    "setAccreditation": (
        "admin",
        "Investor",
        "mutation($id: ID!) { setAccreditation(investorId: $id, status: VERIFIED) { id } }",
        lambda w, i: {"id": i},
    ),
    "cancelInvestment": (
        "investor",
        "Investment",
        "mutation($id: ID!) { cancelInvestment(id: $id) { id } }",
        lambda w, i: {"id": i},
    ),
    **{
        name: (
            "admin",
            "Offering",
            f"mutation($id: ID!) {{ {name}(id: $id) {{ id }} }}",
            lambda w, i: {"id": i},
        )
        for name in ("openOffering", "closeOffering", "cancelOffering", "settleOffering")
    },
    "updateOffering": ("admin", "Offering", UPDATE, lambda w, i: {"i": {"id": i}}),
    "createOffering.issuerId": (
        "admin",
        "Issuer",
        CREATE,
        lambda w, i: {"i": {**_create(w)["i"], "issuerId": i}},
    ),
    "submitInvestment": (
        "investor",
        "Offering",
        "mutation($id: ID!) { submitInvestment(input:"
        ' {offeringId: $id, amount: "20", currency: "EUR"}) { id } }',
        lambda w, i: {"id": i},
    ),
    "resolveBreak": (
        "ops",
        "ReconciliationBreak",
        "mutation($id: ID!) { resolveBreak(id: $id) { status } }",
        lambda w, i: {"id": i},
    ),
    "investments.offeringId": (
        "admin",
        "Offering",
        "query($id: ID) { investments(offeringId: $id) { totalCount } }",
        lambda w, i: {"id": i},
    ),
    "investments.investorId": (
        "admin",
        "Investor",
        "query($id: ID) { investments(investorId: $id) { totalCount } }",
        lambda w, i: {"id": i},
    ),
    "positions.offeringId": (
        "admin",
        "Offering",
        "query($id: ID) { positions(offeringId: $id) { totalCount } }",
        lambda w, i: {"id": i},
    ),
    "events.offeringId": (
        "anonymous",
        "Offering",
        "query($id: ID) { events(filter: {offeringId: $id}) { hasNextPage } }",
        lambda w, i: {"id": i},
    ),
    "offerings.issuerId": (
        "admin",
        "Issuer",
        "query($id: ID) { offerings(filter: {issuerId: $id}) { totalCount } }",
        lambda w, i: {"id": i},
    ),
}
HUGE_IDS = {
    "2^63": str(2**63),
    "10^30": "1" + "0" * 30,
    "arabic-digits": "\u0661\u0662",
    "5000-digits": "9" * 5000,
}
ID_CASES = [(arg, label, raw) for arg in ID_ARGUMENTS for label, raw in HUGE_IDS.items()]


@pytest.mark.parametrize(
    ("argument", "label", "raw"), ID_CASES, ids=[f"{a}-{label}" for a, label, _ in ID_CASES]
)
async def test_global_ids_past_bigint_are_refused(
    world: World, callers: dict[str, Caller], unchanged: None, argument: str, label: str, raw: str
) -> None:
    role, type_name, document, variables = ID_ARGUMENTS[argument]
    response = await callers[role].post(document, **variables(world, gid(type_name, raw)))
    assert "not a valid" in refused(response)


# --- forged pagination cursors ---------------------------------------------------------------

CONNECTIONS = {
    "offerings": "offerings(first: 1{after}) {{ edges {{ cursor }} }}",
    "offerings-name": "offerings(first: 1, orderBy: {{field: NAME}}{after})"
    " {{ edges {{ cursor }} }}",
    "offerings-opensAt": "offerings(first: 1, orderBy: {{field: OPENS_AT, direction: DESC}}"
    "{after}) {{ edges {{ cursor }} }}",
    "issuers": "issuers(first: 1{after}) {{ edges {{ cursor }} }}",
    "investors": "investors(first: 1{after}) {{ edges {{ cursor }} }}",
    "investments": "investments(first: 1{after}) {{ edges {{ cursor }} }}",
    "positions": "positions(first: 1{after}) {{ edges {{ cursor }} }}",
    "reconciliationBreaks": "reconciliationBreaks(first: 1{after}) {{ edges {{ cursor }} }}",
}
BAD_VALUES: list[Any] = [
    "x",
    2**64,
    -(2**64),
    1.5,
    {"t": 5},
    {"t": "2026-01-01T00:00:00"},
    {"d": "NaN"},
    [1],
    {"a": 1},
    "\u0000",
    True,
]


def _cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def forged(cursor: str) -> list[str]:
    """Cursors like `cursor` with each of its values replaced by each bad value, and worse."""
    payload = json.loads(base64.urlsafe_b64decode(cursor))
    found = []
    for i, original in enumerate(payload["k"]):
        for value in BAD_VALUES:
            if type(value) is type(original) and value != "\u0000":
                continue  # a value of the right type (another name, another flag) is fine
            keys = list(payload["k"])
            keys[i] = value
            found.append(_cursor({**payload, "k": keys}))
    # Only a nullable key (opens_at) may hold null; the last key, the id, never.
    null_id = _cursor({**payload, "k": [*payload["k"][:-1], None]})
    return [
        *found,
        null_id,
        _cursor({**payload, "k": None}),
        _cursor({**payload, "k": "ab"}),
        _cursor([payload]),
        _cursor("x"),
        "[" * 5000,
        _cursor({"o": payload["o"]}),
    ]


@pytest.mark.parametrize("connection", CONNECTIONS)
async def test_forged_cursors_are_refused(
    callers: dict[str, Caller], unchanged: None, connection: str
) -> None:
    admin = callers["admin"]
    template = CONNECTIONS[connection]
    first = await admin.data("{ page: " + template.format(after="") + " }")
    cursor = first["page"]["edges"][0]["cursor"]
    answers = {}
    for bad in forged(cursor):
        response = await admin.post(
            "query($a: String) { page: " + template.format(after=", after: $a") + " }", a=bad
        )
        answers[bad] = (response.status_code, code_of(response))
    assert {bad: answer for bad, answer in answers.items() if answer != (200, "VALIDATION")} == {}


async def test_forged_cursor_of_nested_connection_is_refused(
    world: World, callers: dict[str, Caller], unchanged: None
) -> None:
    admin = callers["admin"]
    nested = (
        'query($a: String) {{ issuer(id: "{id}") {{ offerings(first: 1, after: $a)'
        " {{ edges {{ cursor }} }} }} }}"
    )
    acme = world.gid("Issuer", "acme")
    page = await admin.data(nested.format(id=acme), a=None)
    cursor = page["issuer"]["offerings"]["edges"][0]["cursor"]
    for bad in forged(cursor)[:30]:
        response = await admin.post(nested.format(id=acme), a=bad)
        assert code_of(response) == "VALIDATION", (bad, response.text)


# --- feed cursors past 64 bits, over HTTP, WebSocket and SSE ---------------------------------

BAD_SEQUENCES = [str(2**63), "9" * 19, "9" * 25, "\u0661\u0662", "12\n", "-1", "1e3", ""]


async def test_feed_cursors_past_bigint_are_refused(
    callers: dict[str, Caller], unchanged: None
) -> None:
    for after in BAD_SEQUENCES:
        response = await callers["anonymous"].post(
            "query($a: String) { events(after: $a) { hasNextPage } }", a=after
        )
        assert "feed sequence" in refused(response), after


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_feed_subscription_past_bigint_is_refused(
    callers: dict[str, Caller], unchanged: None, protocol: str
) -> None:
    base = str(callers["admin"].client.base_url)
    bearer = callers["investor"].headers["Authorization"]
    async with open_socket(base, protocol=protocol) as socket:
        ack = await socket.init({"authorization": bearer})
        assert ack["type"] == "connection_ack"
        for n, after in enumerate(BAD_SEQUENCES[:4]):
            await socket.subscribe(
                str(n), "subscription($a: String) { events(after: $a) { cursor } }", a=after
            )
            errors: list[Any] = []
            while True:
                message = await socket.receive()
                assert message.get("id") == str(n), message
                payload = message.get("payload")
                if message["type"] == "error":
                    errors += payload if isinstance(payload, list) else [payload]
                    break
                errors += (payload or {}).get("errors") or []
                if message["type"] == "complete":
                    break
            assert errors, message
            assert errors[0]["extensions"]["code"] == "VALIDATION", errors


async def test_sse_subscription_past_bigint_is_refused(
    callers: dict[str, Caller], unchanged: None
) -> None:
    client, investor = callers["investor"].client, callers["investor"].headers
    for after in BAD_SEQUENCES[:4]:
        response = await client.post(
            "/graphql",
            headers={**investor, "Accept": "text/event-stream"},
            json={
                "query": "subscription($a: String) { events(after: $a) { cursor } }",
                "variables": {"a": after},
            },
        )
        first = next(line for line in response.text.splitlines() if line.startswith("data:"))
        errors = json.loads(first.removeprefix("data:"))["errors"]
        assert errors[0]["extensions"]["code"] == "VALIDATION", response.text


# --- digits that are not ASCII ---------------------------------------------------------------


async def test_api_key_timestamp_of_superscript_digits_is_401(
    callers: dict[str, Caller], unchanged: None
) -> None:
    client = callers["anonymous"].client
    # Header bytes are Latin-1: 0xB2 is '²', which str.isdigit() took for a digit.
    for stamp in ("\u00b2", "\u00b9\u00b2\u00b3", "1" * 5000):
        response = await client.post(
            "/graphql",
            json={"query": "{ viewer { kind } }"},
            headers={
                b"X-Api-Key": b"abc",
                b"X-Signature": b"00" * 32,
                b"X-Timestamp": stamp.encode("latin-1"),
            },
        )
        assert response.status_code == 401, (stamp, response.text)
        assert code_of(response) == "UNAUTHENTICATED"


def siwe_message(address: str, nonce: str, chain_id: str, host: str) -> str:
    issued = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"{host} wants you to sign in with your Ethereum account:\n{address}\n\n"
        f"Sign in.\n\nURI: http://{host}\nVersion: 1\nChain ID: {chain_id}\n"
        f"Nonce: {nonce}\nIssued At: {issued}"
    )


async def test_siwe_chain_id_of_superscript_digits_is_refused(
    callers: dict[str, Caller], unchanged: None
) -> None:
    anonymous = callers["anonymous"]
    account = Account.create()
    host = anonymous.client.base_url.netloc.decode()
    for chain_id in ("\u00b2", "\u0663\u0661\u0663\u0663\u0667", "9" * 60):
        nonce = (await anonymous.data("{ nonce { value } }"))["nonce"]["value"]
        message = siwe_message(account.address, nonce, chain_id, host)
        signature = account.sign_message(encode_defunct(text=message)).signature.hex()
        response = await anonymous.post(
            "mutation($m: String!, $s: String!) { signIn(message: $m, signature: $s)"
            " { accessToken } }",
            m=message,
            s="0x" + signature.removeprefix("0x"),
        )
        assert "Chain ID" in refused(response), chain_id[:20]


# --- an amount whose units do not fit Decimal's default context -----------------------------


async def test_amount_over_tiny_unit_price_is_answered(
    world: World, callers: dict[str, Caller], unchanged: None
) -> None:
    response = await callers["investor"].post(
        "mutation($i: SubmitInvestmentInput!) { submitInvestment(input: $i) { id } }",
        i={
            "offeringId": world.gid("Offering", "tiny"),
            "currency": "EUR",
            "amount": "99999999999999999999.999999999999999999",
        },
    )
    # The units are computed exactly; the hard cap of 10 then refuses the order.
    refused(response, "CONFLICT")
    assert response.json()["errors"][0]["extensions"]["reason"] == "hard_cap_exceeded"


# --- request bodies that are not a JSON object -----------------------------------------------

BODIES = {
    "string": b'"query"',
    "number": b"42",
    "null": b"null",
    "true": b"true",
    "invalid-utf8": b'{"query": "{ viewer { kind } }\xff\xfe"}',
    "latin1": b"\xe9",
    "operationName-list": b'{"query": "{ viewer { kind } }", "operationName": []}',
    "operationName-number": b'{"query": "{ viewer { kind } }", "operationName": 5}',
    "not-json": b"{",
    "empty": b"",
}


@pytest.mark.parametrize("body", BODIES)
async def test_bodies_that_are_not_an_object_get_400(
    callers: dict[str, Caller], unchanged: None, body: str
) -> None:
    client = callers["anonymous"].client
    response = await client.post(
        "/graphql", content=BODIES[body], headers={"Content-Type": "application/json"}
    )
    refused(response, "VALIDATION", status=400)
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"]


async def test_empty_selection_set_is_answered(callers: dict[str, Caller], unchanged: None) -> None:
    """`{}` parses; Strawberry's depth rule crashed on it (found by tests/e2e/test_fuzz.py)."""
    client = callers["anonymous"].client
    for response in (
        await callers["anonymous"].post("{}"),
        await client.get("/graphql", params={"query": "{}"}),
    ):
        assert response.status_code == 200, response.text
        assert code_of(response) in (None, "VALIDATION"), response.text


# --- WebSocket messages of the wrong shape ----------------------------------------------------

FRAMES: dict[str, Any] = {
    "array": [],
    "array-of-init": [{"type": "connection_init"}],
    "string": "x",
    "number": 1,
    "null": None,
    "type-number": {"type": 1},
    "type-list": {"type": ["subscribe"]},
}
SUBSCRIBE_FRAMES: dict[str, Any] = {
    "payload-null": {"id": "1", "payload": None},
    "payload-list": {"id": "1", "payload": []},
    "payload-missing": {"id": "1"},
    "query-number": {"id": "1", "payload": {"query": 5}},
    "query-empty": {"id": "1", "payload": {"query": ""}},
    "variables-list": {"id": "1", "payload": {"query": "{ viewer { kind } }", "variables": []}},
    "operationName-object": {
        "id": "1",
        "payload": {"query": "{ viewer { kind } }", "operationName": {}},
    },
    "id-object": {"id": {}, "payload": {"query": "{ viewer { kind } }"}},
    "id-missing": {"payload": {"query": "{ viewer { kind } }"}},
}
WS_CASES = [
    (protocol, "before-init", name) for protocol in (TRANSPORT_WS, LEGACY_WS) for name in FRAMES
] + [
    (protocol, "after-init", name)
    for protocol in (TRANSPORT_WS, LEGACY_WS)
    for name in SUBSCRIBE_FRAMES
]


@pytest.mark.parametrize(
    ("protocol", "when", "frame"), WS_CASES, ids=[f"{p}-{w}-{f}" for p, w, f in WS_CASES]
)
async def test_malformed_frames_close_with_4400(
    callers: dict[str, Caller], unchanged: None, protocol: str, when: str, frame: str
) -> None:
    base = str(callers["admin"].client.base_url)
    async with open_socket(base, protocol=protocol) as socket:
        if when == "before-init":
            await socket.ws.send(json.dumps(FRAMES[frame]))
        else:
            ack = await socket.init({"authorization": callers["admin"].headers["Authorization"]})
            assert ack["type"] == "connection_ack"
            kind = "subscribe" if protocol == TRANSPORT_WS else "start"
            await socket.send({"type": kind, **SUBSCRIBE_FRAMES[frame]})
        code, _reason = await socket.closed_with()
    assert code == 4400


async def test_server_still_answers(callers: dict[str, Caller]) -> None:
    assert (await callers["anonymous"].data("{ viewer { kind } }"))["viewer"]["kind"]
