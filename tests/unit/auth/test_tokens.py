"""Access tokens: claims, expiry, tampering, wrong key, wrong type, short keys."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from pydantic import SecretStr

from dpo.auth.principal import ANONYMOUS, Kind, Principal
from dpo.auth.tokens import (
    ACCESS_TTL,
    create_access_token,
    hash_refresh_token,
    verify_access_token,
)
from dpo.errors import UnauthenticatedError
from dpo.settings import ConfigError, Settings

KEY = "k" * 20 + "0123456789abcdef"
WALLET = Principal(
    kind=Kind.WALLET,
    role="investor",
    investor_id=7,
    address="0x00000000000000000000000000000000000000aB",
)
STAFF = Principal(kind=Kind.STAFF, role="issuer", user_id=3, issuer_id=9)


def settings(key: str = KEY) -> Settings:
    return Settings(_env_file=None, DJANGO_SECRET_KEY=key)


@pytest.mark.parametrize("principal", [WALLET, STAFF])
def test_round_trip(principal: Principal) -> None:
    token = create_access_token(principal, settings=settings())
    assert verify_access_token(token.token, settings=settings()) == principal


def test_claims() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    token = create_access_token(STAFF, settings=settings(), now=now)
    claims = jwt.decode(token.token, KEY, algorithms=["HS256"], issuer="dpo")
    assert claims["sub"] == "user:3"
    assert claims["typ"] == "access"
    assert (claims["kind"], claims["role"], claims["uid"], claims["issuer_id"]) == (
        "staff",
        "issuer",
        3,
        9,
    )
    assert claims["exp"] - claims["iat"] == ACCESS_TTL.total_seconds() == 900
    assert token.expires_at == now + ACCESS_TTL
    assert len(claims["jti"]) == 32


def test_each_token_is_unique() -> None:
    first = create_access_token(WALLET, settings=settings())
    second = create_access_token(WALLET, settings=settings())
    assert first.token != second.token


def test_expired_token_is_refused() -> None:
    past = datetime.now(UTC) - ACCESS_TTL - timedelta(seconds=5)
    token = create_access_token(WALLET, settings=settings(), now=past)
    with pytest.raises(UnauthenticatedError, match="expired") as caught:
        verify_access_token(token.token, settings=settings())
    assert token.token not in str(caught.value)


def test_wrong_key_is_refused() -> None:
    token = create_access_token(WALLET, settings=settings())
    with pytest.raises(UnauthenticatedError, match="invalid access token"):
        verify_access_token(token.token, settings=settings("z" * 40))


def _tamper(token: str, **changes: object) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_tampered_claims_are_refused() -> None:
    token = create_access_token(WALLET, settings=settings())
    with pytest.raises(UnauthenticatedError, match="invalid access token"):
        verify_access_token(_tamper(token.token, role="admin"), settings=settings())


@pytest.mark.parametrize(
    "claims",
    [
        {"typ": "refresh"},
        {"kind": "service"},
        {"kind": "nobody"},
        {"uid": "3"},
        {"role": None},
    ],
)
def test_forged_claims_signed_with_our_key_are_refused(claims: dict[str, object]) -> None:
    # Even a correctly signed token must carry the shape we issue.
    now = int(datetime.now(UTC).timestamp())
    payload = {
        "sub": "user:3",
        "kind": "staff",
        "role": "admin",
        "uid": 3,
        "iat": now,
        "exp": now + 60,
        "jti": "x",
        "typ": "access",
        "iss": "dpo",
        **claims,
    }
    token = jwt.encode(payload, KEY, algorithm="HS256")
    with pytest.raises(UnauthenticatedError):
        verify_access_token(token, settings=settings())


def test_none_algorithm_is_refused() -> None:
    now = int(datetime.now(UTC).timestamp())
    payload = {
        "sub": "user:3",
        "kind": "staff",
        "role": "admin",
        "uid": 3,
        "iat": now,
        "exp": now + 60,
        "jti": "x",
        "typ": "access",
        "iss": "dpo",
    }
    token = jwt.encode(payload, "", algorithm="none")
    with pytest.raises(UnauthenticatedError):
        verify_access_token(token, settings=settings())


def test_missing_claim_is_refused() -> None:
    now = int(datetime.now(UTC).timestamp())
    token = jwt.encode(
        {
            "sub": "user:3",
            "kind": "staff",
            "role": "admin",
            "exp": now + 60,
            "typ": "access",
            "iss": "dpo",
        },
        KEY,
        algorithm="HS256",
    )
    with pytest.raises(UnauthenticatedError):
        verify_access_token(token, settings=settings())


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x"])
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(UnauthenticatedError):
        verify_access_token(garbage, settings=settings())


@pytest.mark.parametrize("key", ["", "short", "x" * 31])
def test_short_secret_key_refuses_to_issue(key: str) -> None:
    with pytest.raises(ConfigError, match="DJANGO_SECRET_KEY"):
        create_access_token(WALLET, settings=settings(key))
    assert isinstance(settings(key).secret_key, SecretStr)


def test_without_a_key_every_token_is_refused() -> None:
    token = create_access_token(WALLET, settings=settings()).token
    with pytest.raises(UnauthenticatedError, match="invalid access token"):
        verify_access_token(token, settings=settings(""))


def test_anonymous_gets_no_token() -> None:
    with pytest.raises(ValueError, match="anonymous"):
        create_access_token(ANONYMOUS, settings=settings())


def test_refresh_hash_is_stable_and_not_the_token() -> None:
    assert hash_refresh_token("abc") == hash_refresh_token("abc")
    assert hash_refresh_token("abc") != hash_refresh_token("abd")
    assert "abc" not in hash_refresh_token("abc")


def test_a_token_verified_before_is_refused_once_expired() -> None:
    soon = datetime.now(UTC) - ACCESS_TTL + timedelta(seconds=1.5)
    token = create_access_token(WALLET, settings=settings(), now=soon)
    assert verify_access_token(token.token, settings=settings()) == WALLET  # now remembered
    expires = jwt.decode(token.token, KEY, algorithms=["HS256"], issuer="dpo")["exp"]
    while time.time() < expires:
        time.sleep(0.05)
    with pytest.raises(UnauthenticatedError, match="expired"):
        verify_access_token(token.token, settings=settings())


def test_a_remembered_token_is_still_refused_under_another_key() -> None:
    token = create_access_token(WALLET, settings=settings())
    assert verify_access_token(token.token, settings=settings()) == WALLET
    with pytest.raises(UnauthenticatedError, match="invalid access token"):
        verify_access_token(token.token, settings=settings("z" * 40))
