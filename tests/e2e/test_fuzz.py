"""Hypothesis against a real `dpo web`: request bodies, variables, scalars, cursors, global ids
and WebSocket frames.

For every generated request: no HTTP 500, every answer JSON, no error with code INTERNAL; for
every frame: the socket either stays usable or is closed with a close code, never dropped; and
over the whole run the server logs nothing at ERROR. Bounded for CI (derandomized, no example
database, so every run tries the same inputs); `FUZZ_EXAMPLES=N` runs N examples per strategy
instead of the default, for a long local run.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.e2e.http_seed import World, seed
from tests.e2e.http_world import Caller, error_lines, serve
from tests.integration.api.committed import Api

pytestmark = pytest.mark.timeout(600)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
ROLES = ("anonymous", "investor", "new_wallet", "issuer", "admin", "ops")
TYPES = (
    "Offering",
    "Issuer",
    "Investor",
    "Investment",
    "Position",
    "ReconciliationBreak",
    "User",
    "",
    "X",
)

# --- what clients send -------------------------------------------------------------------

# Text that is hostile to parsers and databases, mixed with plain text.
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(
        alphabet=st.sampled_from("\x00\ud800\udfff\u00b2\u0661\u2028\ufeff'\"\\%_;-:{}[]"),
        max_size=12,
    ),
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-1",
            "1e309",
            "NaN",
            "Infinity",
            "\u00b2",
            "\u0661\u0662",
            "9" * 30,
            "0x" + "f" * 64,
            "' OR 1=1 --",
            "%",
            "_",
            "null",
            "true",
        ]
    ),
)
integers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63, 2**63 - 1, -(2**63) - 1, 2**256, 10**30]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    integers,
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)
    ),
    max_leaves=12,
)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode(errors="surrogatepass")).decode()


global_ids = st.one_of(
    st.builds(
        lambda t, n: _b64(f"{t}:{n}"),
        st.sampled_from(TYPES),
        st.one_of(integers.map(str), hostile_text),
    ),
    hostile_text,
)
cursors = st.one_of(
    st.builds(
        lambda o, k: _b64(json.dumps({"o": o, "k": k})),
        st.sampled_from(
            [
                "offering:created_at:asc",
                "offering:name:asc",
                "offering:opens_at:desc",
                "issuers_by_name",
                "investors_by_id",
                "investments_by_id",
                "positions_by_id",
                "breaks_by_id",
                "x",
            ]
        ),
        st.lists(json_values, max_size=4),
    ),
    json_values.map(lambda v: _b64(json.dumps(v))),
    integers.map(str),
    hostile_text,
)

# Documents with variables in every input position, and the variables' strategies.
DOCUMENTS: list[tuple[str, dict[str, Any]]] = [
    ("query($id: ID!) { node(id: $id) { id } }", {"id": global_ids}),
    (
        "query($id: ID, $i: ISIN) { offering(id: $id, isin: $i) { id name } }",
        {"id": global_ids, "i": hostile_text},
    ),
    (
        "query($f: OfferingFilter, $a: String, $n: Int) { offerings(filter: $f, after: $a, "
        "first: $n) { totalCount edges { cursor node { id issuer { name } } } } }",
        {"f": json_values, "a": cursors, "n": integers},
    ),
    (
        "query($o: OfferingOrderBy, $a: String) { offerings(orderBy: $o, after: $a) "
        "{ edges { cursor } } }",
        {"o": json_values, "a": cursors},
    ),
    (
        "query($s: String, $a: String) { issuers(search: $s, after: $a) { totalCount "
        "edges { node { offerings(after: $a) { totalCount } } } } }",
        {"s": hostile_text, "a": cursors},
    ),
    ("query($id: ID!) { issuer(id: $id) { id } investor(id: $id) { id } }", {"id": global_ids}),
    (
        "query($k: KycStatus, $a: String) { investors(kycStatus: $k, after: $a) { totalCount } }",
        {"k": json_values, "a": cursors},
    ),
    (
        "query($o: ID, $i: ID, $t: Bytes32, $a: String) { investments(offeringId: $o, "
        "investorId: $i, txHash: $t, after: $a) { totalCount } }",
        {"o": global_ids, "i": global_ids, "t": hostile_text, "a": cursors},
    ),
    (
        "query($h: Address, $o: ID, $a: String) { positions(holder: $h, offeringId: $o, "
        "after: $a) { totalCount } }",
        {"h": hostile_text, "o": global_ids, "a": cursors},
    ),
    (
        "query($f: EventFilter, $a: String, $n: Int) { events(filter: $f, after: $a, first: $n) "
        "{ hasNextPage } }",
        {"f": json_values, "a": hostile_text, "n": integers},
    ),
    (
        "query($j: String, $c: CurrencyCode) { jobRuns(job: $j) { job } fxRates(base: $c) "
        "{ rate } }",
        {"j": hostile_text, "c": hostile_text},
    ),
    ("query($a: Address) { nonce(address: $a) { value } }", {"a": hostile_text}),
    (
        "mutation($m: String!, $s: String!) { signIn(message: $m, signature: $s) { accessToken } }",
        {"m": hostile_text, "s": hostile_text},
    ),
    (
        "mutation($e: String!, $p: String!) { staffSignIn(email: $e, password: $p) "
        "{ accessToken } }",
        {"e": hostile_text, "p": hostile_text},
    ),
    (
        "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
        {"t": hostile_text},
    ),
    ("mutation($i: CreateOfferingInput!) { createOffering(input: $i) { id } }", {"i": json_values}),
    ("mutation($i: UpdateOfferingInput!) { updateOffering(input: $i) { id } }", {"i": json_values}),
    (
        "mutation($i: RegisterInvestorInput!) { registerInvestor(input: $i) { id } }",
        {"i": json_values},
    ),
    ("mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { id } }", {"i": json_values}),
    (
        "mutation($i: SubmitInvestmentInput!) { submitInvestment(input: $i) { id } }",
        {"i": json_values},
    ),
    (
        "mutation($id: ID!, $e: DateTime) { setAccreditation(investorId: $id, status: VERIFIED, "
        "expiresAt: $e) { id } }",
        {"id": global_ids, "e": hostile_text},
    ),
    (
        "mutation($id: ID!, $n: String) { resolveBreak(id: $id, note: $n) { status } }",
        {"id": global_ids, "n": hostile_text},
    ),
    (
        "mutation($id: ID!) { openOffering(id: $id) { id } cancelInvestment(id: $id) { id } }",
        {"id": global_ids},
    ),
    ("mutation($n: String!) { runJob(name: $n) { id } }", {"n": hostile_text}),
]


@st.composite
def graphql_requests(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A role and a JSON body of one of the documents, its variables drawn (or garbled)."""
    document, strategies = draw(st.sampled_from(DOCUMENTS))
    variables = {name: draw(strategy) for name, strategy in strategies.items()}
    body: dict[str, Any] = {"query": document, "variables": variables}
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.sampled_from(["variables", "operationName", "extensions", "query"]))] = draw(
            json_values
        )
    return draw(st.sampled_from(ROLES)), body


raw_bodies = st.one_of(
    st.binary(max_size=120),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda q, v: json.dumps({"query": q, "variables": v}).encode(), hostile_text, json_values
    ),
    st.text(max_size=120).map(lambda t: t.encode(errors="surrogatepass")),
)


def check(response: httpx.Response) -> None:
    """No 500, an answer in JSON, no INTERNAL error."""
    assert response.status_code < 500, response.text[:500]
    body = response.json()  # raises if not JSON
    errors = body.get("errors") if isinstance(body, dict) else None
    codes = [e.get("extensions", {}).get("code") for e in errors or []]
    assert "INTERNAL" not in codes, body


# --- the server -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def log_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "web.log"


@pytest.fixture(scope="module")
async def callers(api: Api, redis_url: str, log_path: Path) -> AsyncIterator[dict[str, Caller]]:
    world: World = await seed(api)
    async with serve(api, world, redis_url, log_path=log_path) as callers:
        yield callers


@pytest.fixture(scope="module")
def server(callers: dict[str, Caller], log_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The base URL and each role's headers; at the end, nothing logged at ERROR."""
    headers = {role: dict(caller.headers) for role, caller in callers.items()}
    yield str(callers["anonymous"].client.base_url), headers
    assert error_lines(log_path) == []


# --- the properties ------------------------------------------------------------------------


def test_graphql_requests(server: tuple[str, dict[str, Any]]) -> None:
    base, headers = server
    with httpx.Client(base_url=base, timeout=30) as client:

        @FUZZ
        @given(graphql_requests())
        def run(request: tuple[str, dict[str, Any]]) -> None:
            role, body = request
            content = json.dumps(body).encode()  # \\u escapes carry NUL and surrogates
            check(
                client.post(
                    "/graphql",
                    content=content,
                    headers={**headers[role], "Content-Type": "application/json"},
                )
            )

        run()


def test_raw_bodies_and_get_parameters(server: tuple[str, dict[str, Any]]) -> None:
    base, headers = server
    with httpx.Client(base_url=base, timeout=30) as client:

        @FUZZ
        @given(raw_bodies, st.sampled_from(ROLES), st.booleans())
        def run(body: bytes, role: str, as_get: bool) -> None:
            if as_get:
                text = body.decode("latin-1")
                response = client.get(
                    "/graphql", params={"query": text, "variables": text}, headers=headers[role]
                )
            else:
                response = client.post(
                    "/graphql",
                    content=body,
                    headers={**headers[role], "Content-Type": "application/json"},
                )
            check(response)

        run()


frames = st.one_of(
    json_values,
    st.builds(
        lambda t, i, p: {"type": t, "id": i, "payload": p},
        st.sampled_from(
            [
                "connection_init",
                "subscribe",
                "start",
                "complete",
                "stop",
                "ping",
                "pong",
                "connection_terminate",
                "next",
                "x",
            ]
        ),
        json_values,
        json_values,
    ),
    st.builds(
        lambda i, q, v: {"type": "subscribe", "id": i, "payload": {"query": q, "variables": v}},
        st.one_of(st.text(min_size=1, max_size=8), json_values),
        st.sampled_from(
            [
                "subscription($a: String) { events(after: $a) { cursor } }",
                "subscription($id: ID!) { offeringUpdated(id: $id) { id } }",
                "{ viewer { kind } }",
                "query { x",
                "",
            ]
        ),
        st.fixed_dictionaries({"a": cursors, "id": global_ids}),
    ),
)


def _closed_properly(closed: ConnectionClosed, *, rejected: bool = False) -> None:
    assert closed.rcvd is not None, "socket dropped without a close frame"
    # 1011 is the server failing, except after graphql-ws's `connection_error` (Strawberry
    # closes a refused connection_init of that protocol with 1011); every other code is a
    # deliberate refusal.
    allowed = {1000, 4400, 4401, 4403, 4406, 4408, 4409, 4429} | ({1011} if rejected else set())
    assert closed.rcvd.code in allowed, closed.rcvd


def _exchange(socket: ClientConnection, frame: Any, protocol: str) -> None:
    """Send a frame; the socket must answer a probe afterwards or close with a code."""
    socket.send(json.dumps(frame))
    probe = (
        {"type": "ping"}
        if protocol == "graphql-transport-ws"
        else {"type": "start", "id": "probe", "payload": {"query": "{ viewer { kind } }"}}
    )
    ended: ConnectionClosed | None = None
    rejected = False
    # The server may have closed already; its last messages are still read below.
    with contextlib.suppress(ConnectionClosed):
        socket.send(json.dumps(probe))
    try:
        while True:
            message = json.loads(socket.recv(timeout=10))
            rejected |= message.get("type") == "connection_error"
            if message.get("type") == "pong" or message.get("id") == "probe":
                return
    except ConnectionClosed as closed:
        ended = closed
    _closed_properly(ended, rejected=rejected)


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
def test_websocket_frames(server: tuple[str, dict[str, Any]], protocol: str) -> None:
    base, headers = server
    url = base.replace("http://", "ws://") + "/graphql"
    bearer = headers["investor"]["Authorization"]

    @settings(FUZZ, max_examples=max(EXAMPLES // 3, 10))
    @given(frames, st.booleans())
    def run(frame: Any, signed_in: bool) -> None:
        with connect(
            url, subprotocols=[Subprotocol(protocol)], open_timeout=10, close_timeout=2
        ) as socket:
            if signed_in:
                socket.send(
                    json.dumps({"type": "connection_init", "payload": {"authorization": bearer}})
                )
                assert json.loads(socket.recv(timeout=10))["type"] == "connection_ack"
                _exchange(socket, frame, protocol)
            else:
                socket.send(json.dumps(frame))
                ended: ConnectionClosed | None = None
                try:
                    socket.recv(timeout=0.3)
                except TimeoutError:
                    return  # still open, waiting for connection_init: fine
                except ConnectionClosed as closed:
                    ended = closed
                if ended is not None:
                    _closed_properly(ended)

    run()
