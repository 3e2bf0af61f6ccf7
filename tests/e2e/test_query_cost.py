"""Fragment fan-out, amplification and the per-caller query budget, against real servers.

Before the query budget, `fragment F0 on Query { ...F1 ...F1 }` chained 20 deep (1.2 KB)
blocked the event loop (health included) for seconds in the depth and alias limiters, and 15
aliases of offerings(first: 100) → issuer → offerings(first: 100) ran for tens of seconds.
Both are now refused before validation, in milliseconds, while /api/health/ keeps answering.
The tests check the refusals and that every health probe is answered; the latencies are
printed, never asserted (a shared machine decides them as much as the code does).
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dpo.auth.principal import Kind, Principal
from dpo.auth.tokens import create_access_token
from dpo.settings import Settings
from tests.e2e.conftest import base_env, web_server
from tests.integration.streaming.wsclient import open_socket

SECRET_KEY = "e2e-cost-" + secrets.token_hex(24)
AMPLIFICATION = (
    "{ "
    + " ".join(
        f"a{i}: offerings(first: 100) {{ edges {{ node {{ issuer {{ offerings(first: 100) {{ "
        "edges { node { id name } } } } } } }"
        for i in range(15)
    )
    + " }"
)
# 15 * (1 + 100 * (1 + 1 + 1 + 1 + 100 * 2)), schema.cost's estimate.
AMPLIFICATION_NODES = 306_015
OFFERINGS = "{ offerings { edges { node { id issuer { name } } } pageInfo { hasNextPage } } }"
OFFERINGS_NODES = 62  # 1 + 20 * (1 + 1 + 1) + 1


def fan_out(depth: int, salt: str = "") -> str:
    """n fragments, each spreading the next twice: 2ⁿ selections from ~60 bytes a level."""
    lines = [f"query Fan{salt} {{ ...F0 }}"]
    lines += [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(depth)]
    lines.append(f"fragment F{depth} on Query {{ status {{ version }} }}")
    return "\n".join(lines)


def bearer(user_id: int) -> dict[str, str]:
    settings = Settings.model_validate({"DJANGO_SECRET_KEY": SECRET_KEY})
    principal = Principal(kind=Kind.STAFF, role="admin", user_id=user_id)
    return {"Authorization": f"Bearer {create_access_token(principal, settings=settings).token}"}


def fresh_user() -> int:
    return secrets.randbelow(10**9) + 10**6


def env(migrated_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    return base_env(
        DATABASE_URL=migrated_url, REDIS_URL=redis_url, DJANGO_SECRET_KEY=SECRET_KEY, **extra
    )


@pytest.fixture(scope="module")
def server(migrated_url: str, redis_url: str) -> Iterator[str]:
    with web_server(env(migrated_url, redis_url)) as base:
        yield base


def refusal(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text[:300]
    body: dict[str, Any] = response.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["LIMIT_EXCEEDED"]
    return body


async def _health_during(base: str, attack: Any, seconds: float) -> tuple[list[float], int]:
    """Health latencies sampled while `attack(client)` runs in four tasks; attacks sent."""
    stop = asyncio.Event()
    sent = 0

    async def attacker() -> None:
        nonlocal sent
        async with httpx.AsyncClient(timeout=60) as client:
            while not stop.is_set():
                await attack(client)
                sent += 1

    attackers = [asyncio.create_task(attacker()) for _ in range(4)]
    latencies: list[float] = []
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                started = time.perf_counter()
                assert (await client.get(base + "/api/health/")).status_code == 200
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.gather(*attackers)
    return latencies, sent


def _report(what: str, latencies: list[float], sent: int, refusal_ms: float | None) -> None:
    refused = f"refused in {refusal_ms:.1f} ms; " if refusal_ms is not None else ""
    print(
        f"\n{what}: {refused}health p50/max "
        f"{statistics.median(latencies) * 1000:.0f}/{max(latencies) * 1000:.0f} ms "
        f"over {len(latencies)} probes during {sent} attacks"
    )


async def test_fragment_fan_out_is_refused_in_milliseconds_while_health_answers(
    server: str,
) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        started = time.perf_counter()
        response = await client.post(server + "/graphql", json={"query": fan_out(20)})
        elapsed = time.perf_counter() - started
    body = refusal(response)
    assert "expands to 2,097,152 fields" in body["errors"][0]["message"]

    async def attack(client: httpx.AsyncClient) -> None:
        # A fresh text each time: no parse or validation cache helps.
        answer = await client.post(
            server + "/graphql", json={"query": fan_out(20, secrets.token_hex(4))}
        )
        refusal(answer)

    latencies, sent = await _health_during(server, attack, 2.0)
    _report("fan-out n=20", latencies, sent, elapsed * 1000)
    assert sent >= 4
    assert latencies  # every probe answered 200 (_health_during); the figures are printed


async def test_amplification_is_refused_before_it_runs_while_health_answers(server: str) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        started = time.perf_counter()
        response = await client.post(server + "/graphql", json={"query": AMPLIFICATION})
        elapsed = time.perf_counter() - started
    body = refusal(response)
    assert body["extensions"]["cost"]["requested"] == AMPLIFICATION_NODES
    assert body["extensions"]["cost"]["maximum"] == 5000
    assert "306,015 objects" in body["errors"][0]["message"]

    async def attack(client: httpx.AsyncClient) -> None:
        refusal(await client.post(server + "/graphql", json={"query": AMPLIFICATION}))

    latencies, sent = await _health_during(server, attack, 2.0)
    _report("amplification", latencies, sent, elapsed * 1000)
    assert latencies  # every probe answered 200 (_health_during); the figures are printed


async def test_validation_heavy_documents_run_off_the_event_loop(server: str) -> None:
    """200 copies of one field: graphql-core's overlap rule takes about a second on them."""

    def heavy(salt: str) -> str:
        return f"query Heavy{salt} {{ " + "status { version } " * 200 + "}"

    async def attack(client: httpx.AsyncClient) -> None:
        answer = await client.post(server + "/graphql", json={"query": heavy(secrets.token_hex(4))})
        assert answer.json()["data"]["status"]["version"]

    latencies, sent = await _health_during(server, attack, 3.0)
    _report("200 overlapping fields", latencies, sent, None)
    assert sent >= 1
    assert latencies  # validated inline, each held the loop ~1 s: docs/BENCHMARKS.md


def test_page_size_from_variables_counts(server: str) -> None:
    query = "query($n: Int) { offerings(first: $n) { edges { node { issuer { name } } } } }"
    small = httpx.post(server + "/graphql", json={"query": query, "variables": {"n": 5}})
    huge = httpx.post(server + "/graphql", json={"query": query, "variables": {"n": 10**12}})
    assert "errors" not in small.json()
    assert small.json()["extensions"]["cost"]["requested"] == 1 + 5 * 3
    assert refusal(huge)["extensions"]["cost"]["requested"] == 1 + 10**12 * 3


def test_a_query_answer_carries_its_cost_and_the_remaining_budget(server: str) -> None:
    answer = httpx.post(
        server + "/graphql", json={"query": OFFERINGS}, headers=bearer(fresh_user())
    ).json()
    assert "errors" not in answer
    cost = answer["extensions"]["cost"]
    assert cost.pop("remaining") in range(10**9 - OFFERINGS_NODES - 1, 10**9 - OFFERINGS_NODES + 1)
    assert cost == {"requested": OFFERINGS_NODES, "maximum": 5000, "perMinute": 10**9}


def test_the_budget_per_minute_is_shared_by_two_replicas(migrated_url: str, redis_url: str) -> None:
    settings = env(migrated_url, redis_url, GRAPHQL_MAX_COST="100", GRAPHQL_COST_PER_MINUTE="150")
    alice, bob = bearer(fresh_user()), bearer(fresh_user())
    with web_server(settings) as one, web_server(settings) as two:
        answers = [
            httpx.post(base + "/graphql", json={"query": OFFERINGS + " " * i}, headers=alice).json()
            for i, base in enumerate((one, two, one))
        ]
        others = httpx.post(two + "/graphql", json={"query": OFFERINGS}, headers=bob).json()
        mutation = httpx.post(
            one + "/graphql",
            headers=alice,
            json={"query": 'mutation { signOut(refreshToken: "x") }'},
        ).json()
    assert [("errors" in a) for a in answers] == [False, False, True]
    # 150 a minute flow back at 2.5 a second: allow for the seconds the requests took.
    left = [a["extensions"]["cost"]["remaining"] for a in answers]
    assert 150 - OFFERINGS_NODES - 1 <= left[0] <= 150 - OFFERINGS_NODES + 10
    assert 150 - 2 * OFFERINGS_NODES - 1 <= left[1] <= 150 - 2 * OFFERINGS_NODES + 20
    assert left[2] < OFFERINGS_NODES
    refused = refusal_body(answers[2])
    assert refused["errors"][0]["extensions"]["retryAfter"] >= 1
    assert "errors" not in others  # another caller's budget is untouched
    assert mutation["data"] is not None  # a mutation of no objects costs nothing


def refusal_body(body: dict[str, Any]) -> dict[str, Any]:
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["LIMIT_EXCEEDED"]
    return body


async def test_the_same_limits_hold_over_websocket(server: str) -> None:
    async with open_socket(server) as socket:
        ack = await socket.init({"authorization": bearer(fresh_user())["Authorization"]})
        assert ack["type"] == "connection_ack"
        await socket.send({"id": "1", "type": "subscribe", "payload": {"query": AMPLIFICATION}})
        amplified = await socket.receive()
        await socket.send({"id": "2", "type": "subscribe", "payload": {"query": fan_out(25)}})
        fanned = await socket.receive()
    for message in (amplified, fanned):
        assert message["type"] == "error", message
        assert [e["extensions"]["code"] for e in message["payload"]] == ["LIMIT_EXCEEDED"]
