"""Access tokens (short-lived JWTs) and refresh tokens (opaque, hashed, rotated on use).

An access token is a JWT signed with HS256 under the secret key (DJANGO_SECRET_KEY), valid
15 minutes, with the claims sub, kind, role, uid, investor_id, issuer_id, address, iat, exp,
jti and typ=access. It is verified without touching the database.

A refresh token is 32 random bytes (URL-safe base64) valid 30 days; only its SHA-256 is
stored. Each use marks it used and issues a successor in the same family. Presenting a token
that was already used means it was copied: the whole family is revoked, so both the thief and
the victim must sign in again. Two concurrent refreshes with one token look the same, so a client
must serialise its refreshes (one tab refreshes, the others wait for its result).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.metrics import TOKEN_VERIFICATIONS
from dpo.auth.principal import Kind, Principal
from dpo.db.models import RefreshToken
from dpo.errors import UnauthenticatedError
from dpo.settings import ConfigError, Settings

logger = logging.getLogger(__name__)

ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=30)
MIN_SECRET_LENGTH = 32
ALGORITHM = "HS256"
ISSUER = "dpo"
_REQUIRED = ["sub", "kind", "role", "iat", "exp", "jti", "typ", "iss"]
_REFRESHABLE = (Kind.WALLET, Kind.STAFF)
# Tokens already verified, by (secret key, token): what a given token string proves never
# changes, only whether it has expired, so a client's repeated token costs one dict lookup
# instead of an HMAC and a JSON decode. Bounded: emptied when full.
_VERIFIED_CAP = 4096
_verified: dict[tuple[str, str], tuple[Principal, int]] = {}


@dataclass(frozen=True)
class AccessToken:
    """A signed access token and when it stops working."""

    token: str
    expires_at: datetime


@dataclass(frozen=True)
class TokenPair:
    """What a sign-in or a refresh hands the client."""

    access_token: str
    refresh_token: str
    expires_at: datetime
    refresh_expires_at: datetime
    principal: Principal


@dataclass(frozen=True)
class RefreshSubject:
    """Whom a rotated refresh token was issued to; the principal is looked up afresh."""

    family: str
    kind: Kind
    user_id: int | None
    address: str | None


def signing_key(settings: Settings) -> str:
    """The secret key, refused when unset or too short to sign tokens with."""
    key = settings.secret_key.get_secret_value()
    if len(key) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"DJANGO_SECRET_KEY must be set to at least {MIN_SECRET_LENGTH} characters "
            "to issue or verify access tokens"
        )
    return key


def hash_refresh_token(token: str) -> str:
    """The stored form of a refresh token."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_access_token(
    principal: Principal, *, settings: Settings, now: datetime | None = None
) -> AccessToken:
    """Sign an access token for the principal."""
    if principal.kind not in _REFRESHABLE:
        raise ValueError(f"access tokens are not issued to {principal.kind} principals")
    now = now or datetime.now(UTC)
    expires_at = now + ACCESS_TTL
    claims: dict[str, Any] = {
        "sub": principal.actor,
        "kind": principal.kind.value,
        "role": principal.role,
        "uid": principal.user_id,
        "investor_id": principal.investor_id,
        "issuer_id": principal.issuer_id,
        "address": principal.address,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": uuid.uuid4().hex,
        "typ": "access",
        "iss": ISSUER,
    }
    token = jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM)
    return AccessToken(token=token, expires_at=expires_at.replace(microsecond=0))


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise UnauthenticatedError("invalid access token")


def verify_access_token(token: str, *, settings: Settings) -> Principal:
    """The principal an access token names; UnauthenticatedError if it is not valid now.

    Without a usable secret key no token can be valid: the caller is refused, not crashed.
    """
    TOKEN_VERIFICATIONS.inc()
    try:
        key = signing_key(settings)
    except ConfigError as error:
        logger.warning("refusing a bearer token: %s", error)
        raise UnauthenticatedError("invalid access token") from None
    known = _verified.get((key, token))
    if known is not None:
        principal, expires = known
        if time.time() < expires:  # PyJWT's rule: expired once exp <= now
            return principal
        raise UnauthenticatedError("access token expired")
    try:
        claims = jwt.decode(
            token, key, algorithms=[ALGORITHM], issuer=ISSUER, options={"require": _REQUIRED}
        )
    except jwt.ExpiredSignatureError:
        raise UnauthenticatedError("access token expired") from None
    except jwt.PyJWTError:
        raise UnauthenticatedError("invalid access token") from None
    if claims.get("typ") != "access":
        raise UnauthenticatedError("invalid access token")
    try:
        kind = Kind(claims["kind"])
    except ValueError:
        raise UnauthenticatedError("invalid access token") from None
    address, role = claims.get("address"), claims["role"]
    if (
        kind not in _REFRESHABLE
        or not isinstance(role, str)
        or not (address is None or isinstance(address, str))
    ):
        raise UnauthenticatedError("invalid access token")
    principal = Principal(
        kind=kind,
        role=role,
        user_id=_optional_int(claims.get("uid")),
        investor_id=_optional_int(claims.get("investor_id")),
        issuer_id=_optional_int(claims.get("issuer_id")),
        address=address,
    )
    if len(_verified) >= _VERIFIED_CAP:
        _verified.clear()
    _verified[key, token] = (principal, int(claims["exp"]))
    return principal


async def issue_tokens(
    session: AsyncSession,
    *,
    principal: Principal,
    settings: Settings,
    family: str | None = None,
    now: datetime | None = None,
) -> TokenPair:
    """An access token and a new refresh token (stored hashed); the caller commits."""
    now = now or datetime.now(UTC)
    access = create_access_token(principal, settings=settings, now=now)
    refresh_token = secrets.token_urlsafe(32)
    refresh_expires_at = now + REFRESH_TTL
    session.add(
        RefreshToken(
            token_hash=hash_refresh_token(refresh_token),
            family=family or uuid.uuid4().hex,
            kind=principal.kind.value,
            user_id=principal.user_id,
            address=principal.address,
            expires_at=refresh_expires_at,
        )
    )
    await session.flush()
    return TokenPair(
        access_token=access.token,
        refresh_token=refresh_token,
        expires_at=access.expires_at,
        refresh_expires_at=refresh_expires_at,
        principal=principal,
    )


async def rotate_refresh_token(
    session: AsyncSession, *, refresh_token: str, now: datetime | None = None
) -> RefreshSubject:
    """Mark a live refresh token used and say whom it belongs to.

    A reused token revokes its family before UnauthenticatedError is raised: the caller must
    commit even then, or the revocation is lost.
    """
    now = now or datetime.now(UTC)
    token_hash = hash_refresh_token(refresh_token)
    # One statement, so of two concurrent uses exactly one finds used_at still NULL.
    row = (
        await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == token_hash,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(
                RefreshToken.family, RefreshToken.kind, RefreshToken.user_id, RefreshToken.address
            )
        )
    ).one_or_none()
    if row is not None:
        return RefreshSubject(
            family=row.family, kind=Kind(row.kind), user_id=row.user_id, address=row.address
        )
    stale = (
        await session.execute(
            select(RefreshToken.family, RefreshToken.used_at, RefreshToken.revoked_at).where(
                RefreshToken.token_hash == token_hash
            )
        )
    ).one_or_none()
    if stale is not None and stale.used_at is not None and stale.revoked_at is None:
        logger.warning("refresh token reused; revoking its family %s", stale.family)
        await revoke_family(session, family=stale.family, now=now)
    raise UnauthenticatedError("refresh token is invalid or expired; sign in again")


async def revoke_family(session: AsyncSession, *, family: str, now: datetime | None = None) -> int:
    """Revoke every live token of a family; return how many."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now or datetime.now(UTC))
        .returning(RefreshToken.id)
    )
    return len(result.all())


async def revoke_refresh_token(session: AsyncSession, *, refresh_token: str) -> str | None:
    """Sign out: revoke the token's family and return it; None when the token is unknown."""
    family = await session.scalar(
        select(RefreshToken.family).where(
            RefreshToken.token_hash == hash_refresh_token(refresh_token)
        )
    )
    if family is not None:
        await revoke_family(session, family=family)
    return family


async def purge_refresh_tokens(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Delete refresh tokens past their expiry (a job's housekeeping); return how many."""
    result = await session.execute(
        delete(RefreshToken)
        .where(RefreshToken.expires_at <= (now or datetime.now(UTC)))
        .returning(RefreshToken.id)
    )
    return len(result.all())
