"""One hostile request must not take `dpo web` down: deep JSON on every transport, sign-in storms.

Each payload goes to one real server, which must answer the next request afterwards. A body
nested 100,000 deep used to kill the process with SIGSEGV (py_ecc raises the recursion limit to
100,000, so the recursive JSON decoder overflowed the C stack before it could raise).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import statistics
import time
from collections.abc import Iterator

import httpx
import pytest

from dpo.auth.principal import Kind, Principal
from dpo.auth.tokens import create_access_token
from dpo.settings import Settings
from tests.e2e.conftest import base_env, web_server
from tests.integration.streaming.wsclient import LEGACY_WS, TRANSPORT_WS, open_socket

SECRET_KEY = "e2e-hostile-" + secrets.token_hex(24)
STATUS = {"query": "{ status { version } }"}
DEEP = 100_000
STAFF = """mutation($e: String!, $p: String!) { staffSignIn(email: $e, password: $p) {
  accessToken } }"""


def nested(depth: int) -> str:
    """JSON text of `depth` nested arrays."""
    return "[" * depth + "]" * depth


def deep_body(depth: int = DEEP) -> bytes:
    """A GraphQL request whose variables nest `depth` arrays deep (~2 bytes a level)."""
    return (
        '{"query": "{ status { version } }", "variables": {"v": ' + nested(depth) + "}}"
    ).encode()


@pytest.fixture(scope="module")
def server(migrated_url: str, redis_url: str) -> Iterator[str]:
    env = base_env(
        DATABASE_URL=migrated_url,
        REDIS_URL=redis_url,
        DJANGO_SECRET_KEY=SECRET_KEY,
        WS_INIT_TIMEOUT="3",
    )
    with web_server(env) as base:
        yield base


def token() -> str:
    settings = Settings.model_validate({"DJANGO_SECRET_KEY": SECRET_KEY})
    principal = Principal(kind=Kind.STAFF, role="admin", user_id=1)
    return create_access_token(principal, settings=settings).token


def assert_limit_exceeded(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text[:300]
    body = response.json()
    # application/graphql-response+json: a request error has no data entry (the spec's rule).
    graphql_response = response.headers["content-type"].startswith(
        "application/graphql-response+json"
    )
    assert body.get("data") is None
    assert ("data" in body) is not graphql_response
    assert [e["extensions"]["code"] for e in body["errors"]] == ["LIMIT_EXCEEDED"]
    assert "nests deeper than 64 levels" in body["errors"][0]["message"]


def still_serving(base: str) -> None:
    assert httpx.get(base + "/api/health/", timeout=10).status_code == 200
    answer = httpx.post(base + "/graphql", json=STATUS, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["data"]["status"]["version"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Accept": "application/graphql-response+json"}],
    ids=["json", "graphql-response"],
)
def test_deep_body_is_refused_and_the_process_survives(
    server: str, headers: dict[str, str]
) -> None:
    response = httpx.post(
        server + "/graphql",
        content=deep_body(),
        headers={"Content-Type": "application/json", **headers},
        timeout=30,
    )
    assert_limit_exceeded(response)
    still_serving(server)


def test_deep_body_of_a_signed_in_caller_is_refused(server: str) -> None:
    response = httpx.post(
        server + "/graphql",
        content=deep_body(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token()}"},
        timeout=30,
    )
    assert_limit_exceeded(response)
    still_serving(server)


def test_deep_get_variables_are_refused(server: str) -> None:
    # A URL is bounded by the server's header limit; 3,000 levels already overflowed the
    # recursion limit of a sane interpreter (a 500) and nest far past the bound.
    response = httpx.get(
        server + "/graphql",
        params={"query": STATUS["query"], "variables": '{"v": ' + nested(3000) + "}"},
        timeout=30,
    )
    assert_limit_exceeded(response)
    still_serving(server)


def test_variables_within_the_bound_still_work(server: str) -> None:
    variables = {"v": json.loads(nested(60))}
    response = httpx.post(server + "/graphql", json={**STATUS, "variables": variables}, timeout=30)
    assert response.status_code == 200
    assert response.json()["data"]["status"]["version"]


def test_deep_body_over_server_sent_events_is_refused(server: str) -> None:
    response = httpx.post(
        server + "/graphql",
        content=deep_body(),
        timeout=30,
        headers={
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            "Authorization": f"Bearer {token()}",
        },
    )
    assert_limit_exceeded(response)
    still_serving(server)


def test_deep_cursor_is_a_validation_error(server: str) -> None:
    cursor = base64.urlsafe_b64encode(('{"o": ' + nested(DEEP) + "}").encode()).decode()
    query = "query($c: String) { offerings(first: 1, after: $c) { edges { cursor } } }"
    response = httpx.post(
        server + "/graphql", json={"query": query, "variables": {"c": cursor}}, timeout=30
    )
    assert response.status_code == 200
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["VALIDATION"]
    still_serving(server)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_deep_connection_init_closes_the_socket_with_4400(server: str, protocol: str) -> None:
    frame = '{"type": "connection_init", "payload": {"v": ' + nested(200_000) + "}}"
    async with open_socket(server, protocol=protocol) as socket:
        await socket.ws.send(frame)
        code, reason = await socket.closed_with()
    assert code == 4400
    assert "nests deeper than 64 levels" in reason
    still_serving(server)


async def test_deep_frame_after_sign_in_closes_the_socket_with_4400(server: str) -> None:
    async with open_socket(server) as socket:
        assert (await socket.init({"authorization": f"Bearer {token()}"}))[
            "type"
        ] == "connection_ack"
        await socket.ws.send(
            '{"id": "1", "type": "subscribe", "payload": {"query": "{ status '
            '{ version } }", "variables": {"v": ' + nested(DEEP) + "}}}"
        )
        code, _ = await socket.closed_with()
    assert code == 4400
    still_serving(server)


async def _health_latencies(base: str, seconds: float) -> list[float]:
    latencies: list[float] = []
    async with httpx.AsyncClient(timeout=30) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = await client.get(base + "/api/health/")
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200
            await asyncio.sleep(0.05)
    return latencies


async def _hammer_sign_in(base: str, stop: asyncio.Event) -> int:
    count = 0
    async with httpx.AsyncClient(timeout=60) as client:
        while not stop.is_set():
            response = await client.post(
                base + "/graphql",
                json={
                    "query": STAFF,
                    "variables": {"e": "nobody@example.com", "p": "wrong password!"},
                },
            )
            assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            count += 1
    return count


async def test_health_stays_fast_while_staff_sign_in_is_hammered(server: str) -> None:
    """argon2 runs in its own small pool: sign-in storms do not freeze the event loop."""
    quiet = await _health_latencies(server, 1.0)
    stop = asyncio.Event()
    hammers = [asyncio.create_task(_hammer_sign_in(server, stop)) for _ in range(6)]
    await asyncio.sleep(0.5)  # let the storm build up
    try:
        busy = await _health_latencies(server, 3.0)
    finally:
        stop.set()
    attempts = sum(await asyncio.gather(*hammers))
    print(
        f"\nhealth p50/max quiet {statistics.median(quiet) * 1000:.0f}/"
        f"{max(quiet) * 1000:.0f} ms; under {attempts} sign-ins in ~3.5 s: "
        f"{statistics.median(busy) * 1000:.0f}/{max(busy) * 1000:.0f} ms"
    )
    assert attempts >= 6
    # Printed, not asserted (the machine running the tests is shared): with argon2 on the
    # event loop the health check waited behind every queued hash (p50 1.7 s, max 2.2 s);
    # off it, p50 ~50 ms.
    assert busy


LONG_QUERY = '{ status { version } offerings(search: "' + "a" * 1_000_000 + '") { totalCount } }'


def assert_too_long(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text[:300]
    body = response.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["LIMIT_EXCEEDED"]
    assert "longer than 32,768 characters" in body["errors"][0]["message"]


def test_a_query_text_too_long_to_lex_quickly_is_refused_before_parsing(server: str) -> None:
    """graphql-core lexes in Python: a 1 MB string literal held the event loop for ~1 s."""
    posted = httpx.post(server + "/graphql", json={"query": LONG_QUERY}, timeout=30)
    streamed = httpx.post(
        server + "/graphql",
        json={"query": LONG_QUERY},
        timeout=30,
        headers={"Accept": "text/event-stream", "Authorization": f"Bearer {token()}"},
    )
    fetched = httpx.get(
        server + "/graphql", params={"query": "{ status { version } }" + " " * 40_000}, timeout=30
    )
    for response in (posted, streamed, fetched):
        assert_too_long(response)
    still_serving(server)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_query_text_too_long_closes_the_socket_with_4400(
    server: str, protocol: str
) -> None:
    async with open_socket(server, protocol=protocol) as socket:
        await socket.init({"authorization": f"Bearer {token()}"})
        await socket.subscribe("1", LONG_QUERY)
        code, reason = await socket.closed_with()
    assert code == 4400
    assert "longer than 32,768 characters" in reason
    still_serving(server)
