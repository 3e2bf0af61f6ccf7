"""Rate limits and GraphQL limits through a real uvicorn server."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx

from dpo.auth.api_keys import create_api_key, signed_headers
from dpo.auth.principal import Kind, Principal
from dpo.auth.tokens import create_access_token
from dpo.db.models.enums import Role
from dpo.db.session import create_engine, session_factory, unit_of_work
from dpo.embedded.process import free_port
from dpo.settings import Settings
from tests.e2e.conftest import SharedWeb, base_env, web_server

QUERY = {"query": "{ status { version } }"}


def env_for(migrated_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    return base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url, **extra)


def fresh_address() -> str:
    """An address no earlier test (or run, within the limit's window) has used."""
    value = uuid.uuid4().int
    return f"10.{value % 256}.{(value >> 8) % 256}.{(value >> 16) % 254 + 1}"


def client(address: str) -> dict[str, str]:
    """Pose as `address`: uvicorn trusts X-Forwarded-For from loopback outside production."""
    return {"X-Forwarded-For": address}


def test_anonymous_limit_returns_429_with_retry_after(migrated_url: str, redis_url: str) -> None:
    me, other = fresh_address(), fresh_address()
    with web_server(env_for(migrated_url, redis_url, RATE_LIMIT_ANON="5/min")) as base:
        answers = [httpx.post(base + "/graphql", json=QUERY, headers=client(me)) for _ in range(6)]
        others = httpx.post(base + "/graphql", json=QUERY, headers=client(other))
        health = httpx.get(base + "/api/health/", headers=client(me))
        metrics = httpx.get(base + "/metrics")
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    refused = answers[5]
    assert 1 <= int(refused.headers["retry-after"]) <= 12
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] == int(refused.headers["retry-after"])
    assert others.status_code == 200
    assert health.status_code == 200
    assert 'dpo_graphql_errors_total{code="RATE_LIMITED"} 1.0' in metrics.text


def test_limit_is_shared_by_two_web_processes(migrated_url: str, redis_url: str) -> None:
    env = env_for(migrated_url, redis_url, RATE_LIMIT_ANON="4/min")
    me = client(fresh_address())
    with web_server(env) as first, web_server(env) as second:
        codes = [
            httpx.post((first, second)[i % 2] + "/graphql", json=QUERY, headers=me).status_code
            for i in range(5)
        ]
    assert codes == [200, 200, 200, 200, 429]


def errors_of(response: httpx.Response) -> list[dict[str, object]]:
    errors: list[dict[str, object]] = response.json()["errors"]
    return errors


def codes(response: httpx.Response) -> set[object]:
    return {error["extensions"]["code"] for error in errors_of(response)}  # type: ignore[index]


def test_depth_alias_and_token_limits(
    migrated_url: str, redis_url: str, shared_web: SharedWeb
) -> None:
    deep = "{ status " + "{ a " * 11 + "{ b }" + " }" * 12
    aliases = "{ " + " ".join(f"s{i}: status {{ version }}" for i in range(16)) + " }"
    fifteen = "{ " + " ".join(f"s{i}: status {{ version }}" for i in range(15)) + " }"
    tokens = "{ status { " + "version " * 2100 + "} }"
    base = shared_web(env_for(migrated_url, redis_url))
    too_deep = httpx.post(base + "/graphql", json={"query": deep})
    too_many_aliases = httpx.post(base + "/graphql", json={"query": aliases})
    allowed_aliases = httpx.post(base + "/graphql", json={"query": fifteen})
    too_many_tokens = httpx.post(base + "/graphql", json={"query": tokens})
    assert "LIMIT_EXCEEDED" in codes(too_deep)
    assert any("depth" in str(e["message"]) for e in errors_of(too_deep))
    assert codes(too_many_aliases) == {"LIMIT_EXCEEDED"}
    assert "errors" not in allowed_aliases.json()
    assert codes(too_many_tokens) == {"LIMIT_EXCEEDED"}


def test_get_runs_queries_only_and_batches_are_refused(
    migrated_url: str, redis_url: str, shared_web: SharedWeb
) -> None:
    base = shared_web(env_for(migrated_url, redis_url))
    query = httpx.get(base + "/graphql", params={"query": "{ status { version } }"})
    mutation = httpx.get(base + "/graphql", params={"query": "mutation { status }"})
    batch = httpx.post(base + "/graphql", json=[QUERY, QUERY])
    assert query.status_code == 200
    assert query.json()["data"]["status"]["version"]
    assert mutation.status_code == 400
    assert "not allowed when using GET" in mutation.text
    assert batch.status_code == 400


INTROSPECT = {"query": "{ __schema { queryType { name } } }"}
TYPO = {"query": "{ status { versoin } }"}


def test_introspection_and_suggestions_in_debug(migrated_url: str, redis_url: str) -> None:
    with web_server(env_for(migrated_url, redis_url, DEBUG="true")) as base:
        introspection = httpx.post(base + "/graphql", json=INTROSPECT)
        typo = httpx.post(base + "/graphql", json=TYPO)
    assert introspection.json()["data"]["__schema"]["queryType"]["name"] == "Query"
    assert "Did you mean" in str(errors_of(typo)[0]["message"])


def test_no_introspection_nor_suggestions_in_production(migrated_url: str, redis_url: str) -> None:
    env = env_for(
        migrated_url,
        redis_url,
        ENVIRONMENT="production",
        DJANGO_SECRET_KEY="k" * 64,
        ALLOWED_HOSTS="127.0.0.1",
    )
    with web_server(env) as base:
        introspection = httpx.post(base + "/graphql", json=INTROSPECT)
        typo = httpx.post(base + "/graphql", json=TYPO)
        status = httpx.post(base + "/graphql", json=QUERY)
    assert introspection.json()["data"] is None
    assert codes(introspection) == {"VALIDATION"}
    message = str(errors_of(typo)[0]["message"])
    assert "versoin" in message
    assert "Did you mean" not in message
    assert status.json()["data"]["status"]["version"]


def test_signed_in_users_have_their_own_limit(migrated_url: str, redis_url: str) -> None:
    secret = "s" * 48
    settings = Settings(DJANGO_SECRET_KEY=secret)

    def bearer(user_id: int) -> dict[str, str]:
        principal = Principal(kind=Kind.STAFF, role="admin", user_id=user_id)
        token = create_access_token(principal, settings=settings).token
        return {"Authorization": f"Bearer {token}"}

    alice, bob = bearer(uuid.uuid4().int % 10**9), bearer(uuid.uuid4().int % 10**9 + 1)
    address = client(fresh_address())
    env = env_for(
        migrated_url,
        redis_url,
        DJANGO_SECRET_KEY=secret,
        RATE_LIMIT_USER="3/min",
        RATE_LIMIT_ANON="100/min",
    )
    with web_server(env) as base:
        codes = [
            httpx.post(base + "/graphql", json=QUERY, headers={**address, **alice}).status_code
            for _ in range(4)
        ]
        other_user = httpx.post(base + "/graphql", json=QUERY, headers={**address, **bob})
        anonymous = httpx.post(base + "/graphql", json=QUERY, headers=address)
        forged = httpx.post(
            base + "/graphql", json=QUERY, headers={**address, "Authorization": "Bearer forged"}
        )
    assert codes == [200, 200, 200, 429]
    assert other_user.status_code == 200
    assert anonymous.status_code == 200
    assert forged.status_code == 401


def test_redis_down_lets_requests_through(migrated_url: str) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    env = base_env(DATABASE_URL=migrated_url, REDIS_URL=dead_redis, RATE_LIMIT_ANON="1/min")
    with web_server(env) as base:
        codes = [httpx.post(base + "/graphql", json=QUERY).status_code for _ in range(3)]
    assert codes == [200, 200, 200]


async def _new_keys(url: str, settings: Settings, count: int) -> list[str]:
    engine = create_engine(url, pool_size=1)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            return [
                (
                    await create_api_key(
                        session, name=f"limit {i}", role=Role.OPS, settings=settings
                    )
                )[0]
                for i in range(count)
            ]
    finally:
        await engine.dispose()


def test_api_key_calls_count_against_the_key(migrated_url: str, redis_url: str) -> None:
    hmac_secret = "h" * 40
    settings = Settings.model_validate({"API_HMAC_SECRET": hmac_secret})
    mine, theirs = asyncio.run(_new_keys(migrated_url, settings, 2))
    calls = iter(range(1000))

    def signed(key: str, address: str, *, forged: bool = False) -> httpx.Response:
        # Each call differs, as a signature is accepted once.
        body = json.dumps({"query": QUERY["query"] + f" # call {next(calls)}"}).encode()
        headers = signed_headers(key, method="POST", path="/graphql", body=body)
        if forged:
            headers["X-Signature"] = "0" * 64
        return httpx.post(
            base + "/graphql",
            content=body,
            headers={"Content-Type": "application/json", **headers, **client(address)},
        )

    address, stranger = fresh_address(), fresh_address()
    env = env_for(
        migrated_url,
        redis_url,
        API_HMAC_SECRET=hmac_secret,
        RATE_LIMIT_USER="3/min",
        RATE_LIMIT_ANON="2/min",
    )
    with web_server(env) as base:
        own = [signed(mine, address) for _ in range(4)]
        other_key = signed(theirs, address)
        anonymous = [
            httpx.post(base + "/graphql", json=QUERY, headers=client(address)) for _ in range(2)
        ]
        forged = [signed(mine, stranger, forged=True) for _ in range(3)]
    # Three calls from an address whose anonymous limit is two: counted against the key.
    assert [r.status_code for r in own] == [200, 200, 200, 429]
    assert own[0].json()["data"]["status"]["version"]
    refused = own[3]
    assert 1 <= int(refused.headers["retry-after"]) <= 20
    assert errors_of(refused)[0]["extensions"] == {
        "code": "RATE_LIMITED",
        "retryAfter": int(refused.headers["retry-after"]),
    }
    assert other_key.status_code == 200
    assert [r.status_code for r in anonymous] == [200, 200]
    # A signature that fails is counted against the address, like any anonymous call.
    assert [r.status_code for r in forged] == [401, 401, 429]
