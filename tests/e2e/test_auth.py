"""Sign-in over real HTTP: SIWE with a fresh wallet, staff, refresh, API keys, bad tokens."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from pydantic import SecretStr
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.auth.api_keys import create_api_key, signed_headers
from dpo.auth.principal import Kind, Principal
from dpo.auth.siwe_message import SiweMessage
from dpo.auth.staff import create_staff_user
from dpo.auth.tokens import create_access_token
from dpo.db.models import ApiKey, AuditLog, AuthNonce, RefreshToken, User
from dpo.db.models.enums import Role
from dpo.db.session import create_engine, session_factory, unit_of_work
from dpo.settings import Settings
from tests.e2e.conftest import base_env, run_dpo, web_server

SECRET_KEY = "e2e-auth-" + secrets.token_hex(24)
HMAC_SECRET = "e2e-hmac-" + secrets.token_hex(24)
PASSWORD = "a long staff password"
NONCE = "query { nonce { value expiresAt } }"
VIEWER = "query { viewer { kind role address investorId userId } }"
SIGN_IN = """mutation($m: String!, $s: String!) { signIn(message: $m, signature: $s) {
  accessToken refreshToken expiresAt principal { kind role address investorId } } }"""
REFRESH = """mutation($t: String!) { refreshToken(refreshToken: $t) {
  accessToken refreshToken principal { kind userId } } }"""
STAFF = """mutation($e: String!, $p: String!) { staffSignIn(email: $e, password: $p) {
  accessToken refreshToken principal { kind role userId } } }"""
SIGN_OUT = "mutation($t: String!) { signOut(refreshToken: $t) }"


@pytest.fixture(scope="module")
def server(migrated_url: str, redis_url: str) -> Iterator[str]:
    env = base_env(
        DATABASE_URL=migrated_url,
        REDIS_URL=redis_url,
        DJANGO_SECRET_KEY=SECRET_KEY,
        API_HMAC_SECRET=HMAC_SECRET,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        RATE_LIMIT_ANON="10000/min",
        RATE_LIMIT_USER="10000/min",
    )
    with web_server(env) as base:
        yield base


@pytest.fixture
async def sessions(migrated_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(migrated_url, pool_size=1)
    yield session_factory(engine)
    await engine.dispose()


def settings() -> Settings:
    return Settings.model_validate(
        {"DJANGO_SECRET_KEY": SECRET_KEY, "API_HMAC_SECRET": HMAC_SECRET}
    )


async def gql(base: str, query: str, token: str | None = None, **variables: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient() as client:
        return await client.post(
            base + "/graphql", headers=headers, json={"query": query, "variables": variables}
        )


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json().get("errors") or []]


def sign(account: LocalAccount, text: str) -> str:
    signed = Account.sign_message(encode_defunct(text=text), private_key=account.key)
    return "0x" + bytes(signed.signature).hex()


def sign_in_message(base: str, account: LocalAccount, nonce: str) -> tuple[str, str]:
    host = base.removeprefix("http://")
    text = SiweMessage(
        domain=host,
        address=account.address,
        uri=base,
        chain_id=31337,
        nonce=nonce,
        issued_at=datetime.now(UTC),
        statement="Sign in to DPO.",
    ).format()
    return text, sign(account, text)


async def nonce_used(sessions: async_sessionmaker[AsyncSession], nonce: str) -> bool:
    async with sessions() as session:
        used = await session.scalar(select(AuthNonce.used_at).where(AuthNonce.nonce == nonce))
    return used is not None


async def forget_wallet(sessions: async_sessionmaker[AsyncSession], address: str) -> None:
    async with unit_of_work(sessions) as session:
        await session.execute(delete(RefreshToken).where(RefreshToken.address == address))
        await session.execute(delete(AuditLog).where(AuditLog.actor == f"wallet:{address}"))


async def test_wallet_sign_in_refresh_and_sign_out(
    server: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    account = Account.create()
    try:
        nonce = (await gql(server, NONCE)).json()["data"]["nonce"]
        assert len(nonce["value"]) == 32
        text, signature = sign_in_message(server, account, nonce["value"])
        signed = await gql(server, SIGN_IN, m=text, s=signature)
        payload = signed.json()["data"]["signIn"]
        assert payload["principal"] == {
            "kind": "WALLET",
            "role": "investor",
            "address": account.address,
            "investorId": None,
        }

        viewer = await gql(server, VIEWER, token=payload["accessToken"])
        assert viewer.json()["data"]["viewer"] == {
            "kind": "WALLET",
            "role": "investor",
            "address": account.address,
            "investorId": None,
            "userId": None,
        }
        anonymous = await gql(server, VIEWER)
        assert anonymous.json()["data"]["viewer"]["kind"] == "ANONYMOUS"

        again = await gql(server, SIGN_IN, m=text, s=signature)
        assert codes(again) == ["UNAUTHENTICATED"]

        rotated = (await gql(server, REFRESH, t=payload["refreshToken"])).json()
        new_pair = rotated["data"]["refreshToken"]
        assert new_pair["principal"]["kind"] == "WALLET"
        assert new_pair["refreshToken"] != payload["refreshToken"]
        # The first token was used: presenting it again revokes the family.
        assert codes(await gql(server, REFRESH, t=payload["refreshToken"])) == ["UNAUTHENTICATED"]
        assert codes(await gql(server, REFRESH, t=new_pair["refreshToken"])) == ["UNAUTHENTICATED"]

        fresh_nonce = (await gql(server, NONCE)).json()["data"]["nonce"]["value"]
        text, signature = sign_in_message(server, account, fresh_nonce)
        second = (await gql(server, SIGN_IN, m=text, s=signature)).json()["data"]["signIn"]
        signed_out = await gql(
            server, SIGN_OUT, token=second["accessToken"], t=second["refreshToken"]
        )
        assert signed_out.json()["data"] == {"signOut": True}
        assert codes(await gql(server, REFRESH, t=second["refreshToken"])) == ["UNAUTHENTICATED"]
    finally:
        await forget_wallet(sessions, account.address)


async def test_bad_signature_consumes_no_nonce(
    server: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    account = Account.create()
    try:
        nonce = (await gql(server, NONCE)).json()["data"]["nonce"]["value"]
        text, right = sign_in_message(server, account, nonce)
        wrong = sign(Account.create(), text)
        refused = await gql(server, SIGN_IN, m=text, s=wrong)
        assert codes(refused) == ["UNAUTHENTICATED"]
        assert refused.json()["data"] is None
        assert "signature" in refused.json()["errors"][0]["message"]
        assert not await nonce_used(sessions, nonce)

        for bad in [
            text.replace("Chain ID: 31337", "Chain ID: 1"),
            text.replace(server.removeprefix("http://"), "evil.example"),
        ]:
            refused = await gql(server, SIGN_IN, m=bad, s=sign(account, bad))
            assert codes(refused) == ["UNAUTHENTICATED"]
            assert "signature" not in refused.json()["errors"][0]["message"]
        assert codes(await gql(server, SIGN_IN, m="hello", s=wrong)) == ["VALIDATION"]
        assert not await nonce_used(sessions, nonce)

        ok = await gql(server, SIGN_IN, m=text, s=right)
        assert ok.json()["data"]["signIn"]["principal"]["address"] == account.address
        assert await nonce_used(sessions, nonce)
    finally:
        await forget_wallet(sessions, account.address)


@pytest.mark.parametrize("token", ["expired", "forged", "garbage"])
async def test_bad_bearer_token_is_401(server: str, token: str) -> None:
    principal = Principal(kind=Kind.STAFF, role="admin", user_id=1)
    if token == "expired":
        value = create_access_token(
            principal, settings=settings(), now=datetime.now(UTC) - timedelta(minutes=16)
        ).token
    elif token == "forged":
        other = settings().model_copy(update={"secret_key": SecretStr("f" * 40)})
        value = create_access_token(principal, settings=other).token
    else:
        value = "not.a.token"
    response = await gql(server, VIEWER, token=value)
    assert response.status_code == 401
    assert codes(response) == ["UNAUTHENTICATED"]
    assert response.json()["data"] is None
    assert value not in response.text


async def test_staff_sign_in_over_http(
    server: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    email = f"staff-{secrets.token_hex(4)}@example.com"
    async with unit_of_work(sessions) as session:
        user = await create_staff_user(
            session, email=email, password=PASSWORD, role=Role.OPS, actor="test"
        )
    try:
        wrong = await gql(server, STAFF, e=email, p="not the password")
        unknown = await gql(server, STAFF, e="nobody@example.com", p=PASSWORD)
        assert codes(wrong) == codes(unknown) == ["UNAUTHENTICATED"]
        assert wrong.json()["errors"][0]["message"] == unknown.json()["errors"][0]["message"]
        pair = (await gql(server, STAFF, e=email, p=PASSWORD)).json()["data"]["staffSignIn"]
        assert pair["principal"]["kind"] == "STAFF"
        assert pair["principal"]["role"] == "ops"
        viewer = (await gql(server, VIEWER, token=pair["accessToken"])).json()
        assert viewer["data"]["viewer"]["userId"] == pair["principal"]["userId"]
        refreshed = (await gql(server, REFRESH, t=pair["refreshToken"])).json()
        assert (
            refreshed["data"]["refreshToken"]["principal"]["userId"] == pair["principal"]["userId"]
        )
    finally:
        async with unit_of_work(sessions) as session:
            await session.execute(delete(AuditLog).where(AuditLog.actor == f"user:{user.id}"))
            await session.execute(
                delete(AuditLog).where(
                    AuditLog.entity_type == "user", AuditLog.entity_id == str(user.id)
                )
            )
            await session.execute(delete(User).where(User.id == user.id))


async def test_api_key_request_over_http(
    server: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with unit_of_work(sessions) as session:
        full_key, key = await create_api_key(
            session, name="e2e jobs", role=Role.OPS, settings=settings()
        )
    try:
        body = httpx.Request("POST", server + "/graphql", json={"query": VIEWER}).content
        headers = {
            "Content-Type": "application/json",
            **signed_headers(full_key, method="POST", path="/graphql", body=body),
        }
        async with httpx.AsyncClient() as client:
            first = await client.post(server + "/graphql", headers=headers, content=body)
            replay = await client.post(server + "/graphql", headers=headers, content=body)
            tampered_headers = {
                **headers,
                **signed_headers(full_key, method="POST", path="/graphql", body=body),
            }
            tampered = await client.post(
                server + "/graphql", headers=tampered_headers, content=body + b" "
            )
        assert first.status_code == 200
        assert first.json()["data"]["viewer"] == {
            "kind": "SERVICE",
            "role": "ops",
            "address": None,
            "investorId": None,
            "userId": None,
        }
        assert replay.status_code == 401
        assert codes(replay) == ["UNAUTHENTICATED"]
        assert tampered.status_code == 401
        async with sessions() as session:
            used = await session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key.id))
        assert used is not None
    finally:
        async with unit_of_work(sessions) as session:
            await session.execute(delete(ApiKey).where(ApiKey.id == key.id))


async def test_bad_input_is_refused_and_changes_nothing(
    server: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async def counts() -> tuple[int, int, int]:
        async with sessions() as session:
            return (
                len((await session.scalars(select(AuthNonce.id))).all()),
                len((await session.scalars(select(RefreshToken.id))).all()),
                len((await session.scalars(select(AuditLog.id))).all()),
            )

    before = await counts()
    bad_address = await gql(
        server, "query($a: Address) { nonce(address: $a) { value } }", a="0x123"
    )
    long_password = await gql(server, STAFF, e="a@example.com", p="x" * 2000)
    long_signature = await gql(server, SIGN_IN, m="m", s="0x" + "ab" * 1000)
    garbage_refresh = await gql(server, REFRESH, t="garbage")
    unknown_sign_out = await gql(server, SIGN_OUT, t="garbage")
    assert codes(bad_address) == ["VALIDATION"]
    assert codes(long_password) == ["VALIDATION"]
    assert codes(long_signature) == ["VALIDATION"]
    assert codes(garbage_refresh) == ["UNAUTHENTICATED"]
    assert unknown_sign_out.json()["data"] == {"signOut": False}
    assert await counts() == before


async def test_nonce_bound_to_an_address(
    server: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    account, stranger = Account.create(), Account.create()
    try:
        bound = await gql(
            server, "query($a: Address) { nonce(address: $a) { value } }", a=account.address.lower()
        )
        nonce = bound.json()["data"]["nonce"]["value"]
        text, signature = sign_in_message(server, stranger, nonce)
        assert codes(await gql(server, SIGN_IN, m=text, s=signature)) == ["UNAUTHENTICATED"]
        text, signature = sign_in_message(server, account, nonce)
        ok = (await gql(server, SIGN_IN, m=text, s=signature)).json()["data"]["signIn"]
        assert ok["principal"]["address"] == account.address
    finally:
        await forget_wallet(sessions, account.address)


async def test_api_key_cli(
    server: str, migrated_url: str, redis_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    env = base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url, API_HMAC_SECRET=HMAC_SECRET)
    created = run_dpo("api-key", "create", "--name", "cli test", "--role", "admin", env=env)
    assert created.returncode == 0, created.stderr
    full_key = created.stdout.strip()
    prefix = full_key.partition(".")[0]
    try:
        body = httpx.Request("POST", server + "/graphql", json={"query": VIEWER}).content
        async with httpx.AsyncClient() as client:
            response = await client.post(
                server + "/graphql",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    **signed_headers(full_key, method="POST", path="/graphql", body=body),
                },
            )
        assert response.json()["data"]["viewer"]["role"] == "admin"

        revoked = run_dpo("api-key", "revoke", prefix, env=env)
        assert revoked.returncode == 0, revoked.stderr
        assert run_dpo("api-key", "revoke", prefix, env=env).returncode == 1
        async with httpx.AsyncClient() as client:
            refused = await client.post(
                server + "/graphql",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    **signed_headers(full_key, method="POST", path="/graphql", body=body),
                },
            )
        assert refused.status_code == 401
        bad_role = run_dpo("api-key", "create", "--name", "x", "--role", "root", env=env)
        assert bad_role.returncode == 2
        async with sessions() as session:
            actions = list(
                await session.scalars(
                    select(AuditLog.action).where(
                        AuditLog.entity_type == "api_key", AuditLog.entity_id == prefix
                    )
                )
            )
        assert sorted(actions) == ["api_key.create", "api_key.revoke"]
        assert full_key.partition(".")[2] not in created.stderr
    finally:
        async with unit_of_work(sessions) as session:
            await session.execute(delete(AuditLog).where(AuditLog.entity_id == prefix))
            await session.execute(delete(ApiKey).where(ApiKey.prefix == prefix))
