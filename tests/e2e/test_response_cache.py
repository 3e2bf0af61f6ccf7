"""The GraphQL response cache through real `dpo web` processes, PostgreSQL and a Redis of its own.

Answers live for 60 s here, so an answer that turns fresh was invalidated, not expired.
The Redis is this module's own: other tests' feed doorbells would otherwise invalidate our
caches at random, and one test stops it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import update

from dpo.auth.tokens import create_access_token
from dpo.channels import channels_for
from dpo.db.models import Issuer, Offering
from dpo.embedded.process import free_port
from dpo.embedded.redis import EmbeddedRedis
from listener.publish import publish_feed
from tests.e2e.conftest import base_env, web_server
from tests.e2e.http_seed import SECRET, World, new_isin, seed, settings
from tests.e2e.http_world import principals
from tests.integration.api.committed import Api
from tests.integration.streaming.support import ALICE, CHAIN, TOKEN, FakeChain

OFFERINGS = "query Offerings { offerings(first: 20) { totalCount edges { node { name } } } }"
MINE = "{ me { fullName } positions(first: 5) { totalCount edges { node { quantity } } } }"
HOLDER = "query Holder($h: Address!) { positions(holder: $h, first: 5) { totalCount } }"
CREATE = "mutation($input: CreateOfferingInput!) { createOffering(input: $input) { id } }"


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    """The role tests' world, plus an offering whose token the fake chain moves."""
    world = await seed(api)
    async with api.runtime.sessions() as session, session.begin():
        session.add(
            Offering(
                issuer=Issuer(name="Chain Co"),
                isin=new_isin(),
                name="Chained",
                symbol="CHN",
                security_type="debt",
                regulation="reg_s",
                currency="EUR",
                unit_price=Decimal(100),
                token_address=TOKEN,
            )
        )
    return world


@pytest.fixture(scope="module")
def own_redis(run_dir: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(run_dir / f"cache-redis-{uuid.uuid4().hex[:8]}", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def env(api: Api, redis: EmbeddedRedis, max_age: str = "60") -> dict[str, str]:
    return base_env(
        DATABASE_URL=api.url,
        REDIS_URL=redis.url,
        DJANGO_SECRET_KEY=SECRET,
        RESPONSE_CACHE="true",
        RESPONSE_CACHE_MAX_AGE=max_age,
    )


def bearer(world: World, role: str) -> dict[str, str]:
    token = create_access_token(principals(world)[role], settings=settings()).token
    return {"Authorization": f"Bearer {token}"}


async def ask(
    client: httpx.AsyncClient, query: str, headers: dict[str, str] | None = None, **variables: Any
) -> tuple[str, httpx.Response]:
    """POST a document; (the x-cache outcome, the response), which must be a success."""
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers or {}
    )
    assert response.status_code == 200, response.text
    assert not response.json().get("errors"), response.text
    return response.headers["x-cache"], response


async def warm(
    client: httpx.AsyncClient, query: str, headers: dict[str, str] | None = None, **variables: Any
) -> httpx.Response:
    """Ask until the answer comes from the cache (the cache starts once subscribed)."""
    deadline = time.monotonic() + 15
    while True:
        outcome, response = await ask(client, query, headers, **variables)
        if outcome == "hit":
            return response
        assert time.monotonic() < deadline, f"never cached: {outcome}"
        await asyncio.sleep(0.05)


def new_offering(world: World) -> dict[str, Any]:
    return {
        "issuerId": world.gid("Issuer", "acme"),
        "isin": new_isin(),
        "name": f"Fresh {secrets.token_hex(3)}",
        "symbol": "FRS",
        "securityType": "FUND",
        "regulation": "REG_S",
        "currency": "EUR",
        "unitPrice": "1",
    }


def total(response: httpx.Response) -> int:
    return int(response.json()["data"]["offerings"]["totalCount"])


async def test_hits_are_the_same_bytes_and_never_cross_callers(
    api: Api, world: World, own_redis: EmbeddedRedis
) -> None:
    admin = bearer(world, "admin")
    investor, other = bearer(world, "investor"), bearer(world, "other_investor")
    with web_server(env(api, own_redis)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            anonymous = await warm(client, OFFERINGS)
            outcome, again = await ask(client, OFFERINGS)
            assert outcome == "hit"
            assert again.content == anonymous.content
            # The admin sees drafts too: never the anonymous answer, and the reverse.
            outcome, as_admin = await ask(client, OFFERINGS, admin)
            assert outcome == "miss"
            assert total(as_admin) > total(anonymous)
            assert (await warm(client, OFFERINGS, admin)).content == as_admin.content
            assert (await ask(client, OFFERINGS))[1].content == anonymous.content
            # Two investors, one document: each their own profile and positions.
            ada = await warm(client, MINE, investor)
            outcome, bob = await ask(client, MINE, other)
            assert outcome == "miss"
            assert ada.json()["data"]["me"]["fullName"] == "Ada"
            assert bob.json()["data"]["me"]["fullName"] == "Bob"
            assert ada.json()["data"]["positions"]["edges"] == [{"node": {"quantity": "30"}}]
            assert bob.json()["data"]["positions"]["edges"] == [{"node": {"quantity": "5"}}]
            assert (await warm(client, MINE, other)).content == bob.content
            assert (await ask(client, MINE, investor))[1].content == ada.content
            # Errors, and fields that must be fresh, are executed every time.
            bad = '{ offering(isin: "US0378331005") { id } }'
            for _ in range(2):
                response = await client.post("/graphql", json={"query": bad})
                assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
                assert response.headers["x-cache"] == "miss"
            nonces = [await ask(client, "{ nonce { value } }") for _ in range(2)]
            assert [outcome for outcome, _ in nonces] == ["miss", "miss"]
            assert nonces[0][1].json() != nonces[1][1].json()
            metrics = (await client.get("/metrics")).text
    hits = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith('dpo_graphql_response_cache_total{result="hit"}')
    ]
    assert hits
    assert hits[0] >= 5  # at least the hits asserted above


async def test_a_mutation_is_read_back_at_once_by_its_replica_and_soon_by_others(
    api: Api, world: World, own_redis: EmbeddedRedis
) -> None:
    admin = bearer(world, "admin")
    with web_server(env(api, own_redis)) as one, web_server(env(api, own_redis)) as two:
        async with (
            httpx.AsyncClient(base_url=one, timeout=30) as first,
            httpx.AsyncClient(base_url=two, timeout=30) as second,
        ):
            before = total(await warm(first, OFFERINGS, admin))
            await warm(first, OFFERINGS)
            await warm(second, OFFERINGS, admin)
            # Read your writes: the mutation's own replica answers afresh at once.
            created = await first.post(
                "/graphql",
                headers=admin,
                json={"query": CREATE, "variables": {"input": new_offering(world)}},
            )
            assert created.json()["data"]["createOffering"]["id"], created.text
            outcome, after = await ask(first, OFFERINGS, admin)
            assert outcome == "miss"
            assert total(after) == before + 1
            assert (await ask(first, OFFERINGS))[0] == "miss"  # every caller's answers went
            # The other replica hears of it through Redis (its answers would live 60 s).
            deadline = time.monotonic() + 10
            while total((await ask(second, OFFERINGS, admin))[1]) != before + 1:
                assert time.monotonic() < deadline, "the other replica kept the old answer"
                await asyncio.sleep(0.05)
            # And a write on the second replica reaches the first.
            await warm(first, OFFERINGS, admin)
            await second.post(
                "/graphql",
                headers=admin,
                json={"query": CREATE, "variables": {"input": new_offering(world)}},
            )
            deadline = time.monotonic() + 10
            while total((await ask(first, OFFERINGS, admin))[1]) != before + 2:
                assert time.monotonic() < deadline, "the first replica kept the old answer"
                await asyncio.sleep(0.05)


async def test_a_listener_commit_invalidates(
    api: Api, world: World, own_redis: EmbeddedRedis
) -> None:
    admin = bearer(world, "admin")
    chain = FakeChain(api.runtime.sessions)
    redis = aioredis.from_url(own_redis.url)
    try:
        with web_server(env(api, own_redis)) as base:
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                empty = await warm(client, HOLDER, admin, h=ALICE)
                assert empty.json()["data"]["positions"]["totalCount"] == 0
                # The listener's own steps: ingest_batch commits, then the doorbell rings.
                first, last = await chain.emit(1, to=ALICE)
                await publish_feed(
                    redis,
                    channel=channels_for(own_redis.url).feed,
                    chain_id=CHAIN,
                    first_seq=first,
                    last_seq=last,
                )
                deadline = time.monotonic() + 10
                while True:
                    outcome, response = await ask(client, HOLDER, admin, h=ALICE)
                    if response.json()["data"]["positions"]["totalCount"] == 1:
                        break
                    assert outcome == "hit"  # only ever the old answer or the new one
                    assert time.monotonic() < deadline, "the ingest did not invalidate"
                    await asyncio.sleep(0.05)
    finally:
        await redis.aclose()


async def test_without_redis_requests_are_answered_uncached(
    api: Api, world: World, run_dir: Path
) -> None:
    admin = bearer(world, "admin")
    redis = EmbeddedRedis(run_dir / f"cache-redis-{uuid.uuid4().hex[:8]}", free_port())
    redis.start()
    try:
        with web_server(env(api, redis)) as base:
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                before = total(await warm(client, OFFERINGS, admin))
                redis.stop()
                deadline = time.monotonic() + 15
                while (await ask(client, OFFERINGS, admin))[0] != "bypass":
                    assert time.monotonic() < deadline, "still served from the cache"
                    await asyncio.sleep(0.05)
                created = await client.post(
                    "/graphql",
                    headers=admin,
                    json={"query": CREATE, "variables": {"input": new_offering(world)}},
                )
                assert created.status_code == 200
                assert created.json()["data"]["createOffering"]["id"], created.text
                for _ in range(2):
                    outcome, response = await ask(client, OFFERINGS, admin)
                    assert outcome == "bypass"
                    assert total(response) == before + 1
                # Redis back: the cache resumes on its own.
                redis.start()
                assert total(await warm(client, OFFERINGS, admin)) == before + 1
    finally:
        redis.stop()


async def test_an_unannounced_write_shows_within_the_maximum_age(
    api: Api, world: World, own_redis: EmbeddedRedis
) -> None:
    # A write nobody announces (a lost message, a crash before the publish, SQL by hand).
    with web_server(env(api, own_redis, max_age="3")) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            names = [
                e["node"]["name"]
                for e in (await warm(client, OFFERINGS)).json()["data"]["offerings"]["edges"]
            ]
            renamed = f"Renamed {secrets.token_hex(3)}"
            async with api.runtime.sessions() as session, session.begin():
                await session.execute(
                    update(Offering)
                    .where(Offering.id == world.ids["acme_open"])
                    .values(name=renamed)
                )
            outcome, stale = await ask(client, OFFERINGS)
            assert outcome == "hit"  # nothing told the cache
            assert renamed not in stale.text
            deadline = time.monotonic() + 30
            while True:
                outcome, response = await ask(client, OFFERINGS)
                if renamed in response.text:
                    break
                assert time.monotonic() < deadline, "the stale answer outlived its maximum age"
                await asyncio.sleep(0.1)
            assert outcome == "miss"
            assert "Acme Open" in names
            async with api.runtime.sessions() as session, session.begin():
                await session.execute(
                    update(Offering)
                    .where(Offering.id == world.ids["acme_open"])
                    .values(name="Acme Open")
                )
