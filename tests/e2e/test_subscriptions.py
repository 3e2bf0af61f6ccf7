"""Live subscriptions over real sockets against `dpo web` (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.exceptions import ConnectionClosed

from dpo.auth.principal import Kind, Principal
from dpo.auth.tokens import ACCESS_TTL, create_access_token
from dpo.db.session import create_engine, session_factory
from dpo.embedded.process import free_port
from dpo.embedded.redis import EmbeddedRedis
from dpo.settings import Settings
from schema.relay import to_global_id
from tests.conftest import _drop_database
from tests.e2e.conftest import base_env, web_server
from tests.integration.streaming.support import ALICE, BOB, FakeChain, seed_offering
from tests.integration.streaming.wsclient import EVENTS, LEGACY_WS, GraphQLSocket, open_socket
from tests.support.migrated import migrated_copy

SECRET_KEY = "e2e-subscriptions-" + secrets.token_hex(24)
ADMIN = Principal(kind=Kind.STAFF, role="admin", user_id=1)
Sessions = async_sessionmaker[AsyncSession]


def token(principal: Principal = ADMIN, *, now: datetime | None = None) -> str:
    settings = Settings.model_validate({"DJANGO_SECRET_KEY": SECRET_KEY})
    return create_access_token(principal, settings=settings, now=now).token


def bearer(principal: Principal = ADMIN) -> dict[str, str]:
    return {"authorization": f"Bearer {token(principal)}"}


@asynccontextmanager
async def seeded_feed_db(pg_server_url: str) -> AsyncIterator[tuple[str, Sessions]]:
    """A migrated database with the streaming tests' offering, dropped after."""
    url = await migrated_copy(pg_server_url)
    engine = create_engine(url, pool_size=3)
    sessions = session_factory(engine)
    await seed_offering(sessions)
    yield url, sessions
    await engine.dispose()
    await _drop_database(pg_server_url, url)


@pytest.fixture
async def feed_db(pg_server_url: str) -> AsyncIterator[tuple[str, Sessions]]:
    async with seeded_feed_db(pg_server_url) as feed:
        yield feed


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


def server_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    values = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "FEED_POLL_INTERVAL": "1",
        # web_server never reads the server's output: keep it small.
        "LOG_LEVEL": "WARNING",
        # Caps are shared through Redis: each test's servers count among themselves.
        "WS_CAPS_NAMESPACE": "dpo:ws:caps:" + secrets.token_hex(6),
        **extra,
    }
    return base_env(**values)


async def signed_in(sock: GraphQLSocket, principal: Principal = ADMIN) -> None:
    ack = await sock.init(bearer(principal))
    assert ack["type"] == "connection_ack", ack


def cursors(frames: list[dict[str, Any]]) -> list[int]:
    return [int(f["events"]["cursor"]) for f in frames]


async def frames(sock: GraphQLSocket, op_id: str, n: int) -> list[dict[str, Any]]:
    return [await sock.data(op_id) for _ in range(n)]


async def test_a_client_resuming_with_its_last_cursor_gets_1000_events_each_once(
    feed_db: tuple[str, Sessions], redis_url: str, redis: aioredis.Redis
) -> None:
    url, sessions = feed_db
    chain = FakeChain(sessions)
    rng = random.Random(7)

    async def produce() -> None:
        for _ in range(40):
            await chain.emit(25, redis=redis)
            await asyncio.sleep(rng.random() / 20)

    received: list[int] = []
    with web_server(server_env(url, redis_url)) as base:
        producer = asyncio.create_task(produce())
        cursor: str | None = "0"
        while len(received) < 1000:
            async with open_socket(base) as sock:
                await signed_in(sock)
                await sock.subscribe("1", EVENTS, after=cursor)
                batch = cursors(
                    await frames(sock, "1", min(rng.randint(1, 120), 1000 - len(received)))
                )
                sock.drop()
            received += batch
            cursor = str(batch[-1])
        await producer
    assert received == list(range(1, 1001))


async def test_two_web_processes_on_one_redis_both_deliver(
    feed_db: tuple[str, Sessions], redis_url: str, redis: aioredis.Redis
) -> None:
    url, sessions = feed_db
    chain = FakeChain(sessions)
    # No safety poll within the test: only the doorbell can wake the two hubs.
    env = server_env(url, redis_url, FEED_POLL_INTERVAL="60")
    with web_server(env) as first, web_server(env) as second:
        async with open_socket(first) as one, open_socket(second) as two:
            for sock in (one, two):
                await signed_in(sock)
                await sock.subscribe("a", EVENTS, after="0")
            # Replayed or rung, whichever comes first; then both hubs are subscribed.
            await chain.emit(1, redis=redis)
            head = [cursors(await frames(sock, "a", 1)) for sock in (one, two)]
            await chain.emit(10, redis=redis)
            got = [cursors(await frames(sock, "a", 10)) for sock in (one, two)]
    assert head == [[1], [1]]
    assert got == [list(range(2, 12))] * 2


async def test_a_redis_restart_mid_stream_loses_nothing(
    feed_db: tuple[str, Sessions], tmp_path: Path
) -> None:
    url, sessions = feed_db
    chain = FakeChain(sessions)
    server = EmbeddedRedis(tmp_path / "redis", free_port())
    client = aioredis.from_url(server.start())
    try:
        with web_server(server_env(url, server.url, FEED_POLL_INTERVAL="60")) as base:
            async with open_socket(base) as sock:
                await signed_in(sock)
                await sock.subscribe("1", EVENTS, after="0")
                await chain.emit(5, redis=client)
                got = cursors(await frames(sock, "1", 5))
                server.stop()
                await chain.emit(5)  # no doorbell: Redis is down
                server = EmbeddedRedis(tmp_path / "redis", server.port)
                server.start()
                # Delivered by the catch-up that follows the hub's re-subscription.
                got += cursors(await frames(sock, "1", 5))
                publisher = aioredis.from_url(server.url)
                await chain.emit(5, redis=publisher)
                await publisher.aclose()
                got += cursors(await frames(sock, "1", 5))
    finally:
        await client.aclose()
        server.stop()
    assert got == list(range(1, 16))


async def test_filters_hold_over_the_socket(
    feed_db: tuple[str, Sessions], redis_url: str, redis: aioredis.Redis
) -> None:
    url, sessions = feed_db
    chain = FakeChain(sessions)
    with web_server(server_env(url, redis_url)) as base:
        async with open_socket(base) as sock:
            await signed_in(sock)
            await sock.subscribe("bob", EVENTS, after="0", filter={"address": BOB})
            await sock.subscribe("all", EVENTS, after="0")
            await chain.emit(3, to=ALICE, redis=redis)
            await chain.emit(2, to=BOB, redis=redis)
            everything = await frames_of(sock, {"all": 5, "bob": 2})
    assert cursors(everything["all"]) == [1, 2, 3, 4, 5]
    assert cursors(everything["bob"]) == [4, 5]
    assert {f["events"]["node"]["args"]["to"] for f in everything["bob"]} == {BOB}


async def frames_of(sock: GraphQLSocket, wanted: dict[str, int]) -> dict[str, list[Any]]:
    """Frames of several operations, interleaved on one socket, sorted out by id."""
    got: dict[str, list[Any]] = {op: [] for op in wanted}
    while any(len(got[op]) < n for op, n in wanted.items()):
        message = await sock.receive()
        assert message["type"] == "next", message
        got[message["id"]].append(message["payload"]["data"])
    return got


async def test_permissions_hold_for_positions_and_breaks(
    feed_db: tuple[str, Sessions], redis_url: str, redis: aioredis.Redis
) -> None:
    url, sessions = feed_db
    chain = FakeChain(sessions)
    investor = Principal(kind=Kind.WALLET, role="investor", investor_id=4242, address=ALICE)
    position = "subscription($h: Address!) { positionChanged(holder: $h) { holder quantity } }"
    breaks = "subscription { reconciliationBreaks { id status } }"
    with web_server(server_env(url, redis_url)) as base:
        async with open_socket(base) as sock:
            await signed_in(sock, investor)
            await sock.subscribe("p", position, h=BOB)
            await sock.subscribe("b", breaks)
            refused = await errors_of(sock, {"p", "b"})
        async with open_socket(base) as sock:
            await signed_in(sock)  # admin
            await sock.subscribe("p", position, h=BOB)
            before = await sock.data("p")
            await chain.emit(2, to=BOB, redis=redis)
            after = await sock.data("p")
    assert refused == {"p": "FORBIDDEN", "b": "FORBIDDEN"}
    assert before == {"positionChanged": []}
    assert after["positionChanged"][0]["quantity"] == "3"


async def errors_of(sock: GraphQLSocket, ops: set[str]) -> dict[str, str]:
    """The error code each operation ended with."""
    codes: dict[str, str] = {}
    while set(codes) != ops:
        message = await sock.receive()
        if message["type"] == "complete":
            continue
        payload = message["payload"]
        errors = payload if isinstance(payload, list) else payload["errors"]
        codes[message["id"]] = errors[0]["extensions"]["code"]
    return codes


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {"authorization": "Bearer not-a-token"},
        {"token": "x.y.z"},
        {"authorization": "Basic abc"},
    ],
    ids=["missing", "garbage-bearer", "garbage-token", "wrong-scheme"],
)
async def test_a_missing_or_bad_token_is_refused_with_4403(
    migrated_url: str, redis_url: str, payload: dict[str, str] | None
) -> None:
    with web_server(server_env(migrated_url, redis_url)) as base:
        async with open_socket(base) as sock:
            await sock.send({"type": "connection_init", "payload": payload or {}})
            code, _ = await sock.closed_with()
    assert code == 4403


async def test_expired_or_foreign_tokens_are_refused_and_both_payload_forms_work(
    migrated_url: str, redis_url: str
) -> None:
    expired = token(now=datetime.now(UTC) - ACCESS_TTL - timedelta(minutes=1))
    foreign = create_access_token(
        ADMIN,
        settings=Settings.model_validate(
            {"DJANGO_SECRET_KEY": "another-secret-" + secrets.token_hex(24)}
        ),
    ).token
    codes = []
    with web_server(server_env(migrated_url, redis_url)) as base:
        for bad in (expired, foreign):
            async with open_socket(base) as sock:
                await sock.send({"type": "connection_init", "payload": {"token": bad}})
                codes.append((await sock.closed_with())[0])
        acks = []
        for good in ({"token": token()}, {"authorization": f"Bearer {token()}"}):
            async with open_socket(base) as sock:
                acks.append((await sock.init(good))["type"])
    assert codes == [4403, 4403]
    assert acks == ["connection_ack", "connection_ack"]


async def test_no_connection_init_in_time_closes_with_4408(
    migrated_url: str, redis_url: str
) -> None:
    with web_server(server_env(migrated_url, redis_url, WS_INIT_TIMEOUT="0.5")) as base:
        async with open_socket(base) as sock:
            code, _ = await sock.closed_with()
    assert code == 4408


async def test_an_expiring_token_ends_the_socket_with_4401(
    migrated_url: str, redis_url: str
) -> None:
    with web_server(server_env(migrated_url, redis_url)) as base:
        soon = token(now=datetime.now(UTC) - ACCESS_TTL + timedelta(seconds=3))
        async with open_socket(base) as sock:
            assert (await sock.init({"token": soon}))["type"] == "connection_ack"
            await sock.subscribe("1", EVENTS)
            code, reason = await sock.closed_with()
    assert code == 4401
    assert "expired" in reason


async def test_caps_on_subscriptions_per_connection_and_connections_per_user(
    migrated_url: str, redis_url: str
) -> None:
    env = server_env(
        migrated_url,
        redis_url,
        WS_MAX_SUBSCRIPTIONS_PER_CONNECTION="2",
        WS_MAX_CONNECTIONS_PER_USER="1",
    )
    with web_server(env) as base:
        async with open_socket(base) as first:
            await signed_in(first)
            for op in ("1", "2", "3"):
                await first.subscribe(op, EVENTS)
            third = await first.receive()
            async with open_socket(base) as second:
                await second.send({"type": "connection_init", "payload": bearer()})
                code, _ = await second.closed_with()
        # The first socket's slot is free again once the server has seen it close.
        async with asyncio.timeout(30):
            while not await acknowledged(base):  # noqa: ASYNC110 (another process's state)
                await asyncio.sleep(0.2)
    assert third["id"] == "3"
    assert third["type"] == "error"
    assert "limit" in third["payload"][0]["message"].lower()
    assert code == 4403


async def acknowledged(base: str) -> bool:
    async with open_socket(base) as sock:
        await sock.send({"type": "connection_init", "payload": bearer()})
        try:
            return bool((await sock.receive())["type"] == "connection_ack")
        except ConnectionClosed:
            return False


async def test_the_legacy_graphql_ws_protocol_works(
    feed_db: tuple[str, Sessions], redis_url: str, redis: aioredis.Redis
) -> None:
    url, sessions = feed_db
    chain = FakeChain(sessions)
    with web_server(server_env(url, redis_url)) as base:
        async with open_socket(base, protocol=LEGACY_WS) as sock:
            await signed_in(sock)
            await sock.subscribe("1", EVENTS, after="0")
            await chain.emit(3, redis=redis)
            got = cursors(await frames(sock, "1", 3))
            await sock.stop("1")
    assert got == [1, 2, 3]


async def test_offering_updates_follow_its_events_and_metrics_count_them(
    feed_db: tuple[str, Sessions], redis_url: str, redis: aioredis.Redis
) -> None:
    url, sessions = feed_db
    chain = FakeChain(sessions)
    query = "subscription($id: ID!) { offeringUpdated(id: $id) { id status unitsSold } }"
    offering = to_global_id("Offering", 1)
    with web_server(server_env(url, redis_url)) as base:
        async with open_socket(base) as sock:
            await signed_in(sock)
            await sock.subscribe("o", query, id=offering)
            now = await sock.data("o")
            await chain.emit(2, redis=redis)  # Transfers of the offering's token
            again = await sock.data("o")
            async with httpx.AsyncClient() as http:
                metrics = (await http.get(base + "/metrics")).text
    assert now == again
    assert now["offeringUpdated"]["id"] == offering
    assert now["offeringUpdated"]["status"] == "DRAFT"
    samples = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in metrics.splitlines()
        if line and not line.startswith("#")
    }
    assert samples["dpo_ws_connections"] == 1
    assert samples["dpo_feed_subscriptions"] == 1
    assert samples["dpo_feed_delivery_seconds_count"] >= 1
    assert samples["dpo_feed_frame_seconds_count"] >= 1  # from the doorbell's `seen`
