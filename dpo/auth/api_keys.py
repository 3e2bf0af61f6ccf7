"""API keys for service calls, with an HMAC request signature and a replay window.

The key. `create_api_key` returns the full key `<prefix>.<secret>` once. The prefix (15
characters, `dpo` + 12 hex digits) names the key; the secret is
`base64url(HMAC-SHA256(API_HMAC_SECRET, "dpo-api-key\\n" + prefix + "\\n" + salt))` without
padding, where salt is 16 random bytes in hex kept in the row. The row stores only the salt
and SHA-256 of the secret (`v1$<salt>$<sha256 hex>`): the database alone cannot sign, and
changing API_HMAC_SECRET invalidates every key.

Signing a request (what a client implements). Send three headers:

    X-Api-Key:   <prefix>
    X-Timestamp: <unix time in whole seconds>
    X-Signature: hex(HMAC-SHA256(key=<secret as UTF-8>, msg=<canonical>))

    canonical = timestamp + "\\n" + METHOD + "\\n" + path + "\\n" + hex(SHA-256(body))

METHOD is upper case; path is the request target as sent, with the query string if any
(`/graphql?x=1`); body is the raw request body (empty for GET). The timestamp must be within
300 seconds of the server's clock, and a signature is accepted once: a replay within the
window is refused (remembered in Redis with SET NX EX).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import Kind, Principal
from dpo.db.models import ApiKey, AuditLog, User
from dpo.db.models.enums import Role
from dpo.db.session import create_engine, session_factory, unit_of_work
from dpo.errors import UnauthenticatedError, ValidationError
from dpo.inputs import is_ascii_digits
from dpo.settings import ConfigError, Settings

logger = logging.getLogger(__name__)

REPLAY_WINDOW = 300
MIN_HMAC_SECRET_LENGTH = 32
KEY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER = "x-api-key", "x-timestamp", "x-signature"
_API_KEY_HEADERS = frozenset((KEY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER))
# last_used_at is written at most this often per key, so busy keys cost no write per request.
LAST_USED_RESOLUTION = timedelta(seconds=60)
_INVALID = "invalid API key or signature"


def _hmac_secret(settings: Settings) -> bytes:
    secret = settings.api_hmac_secret
    if secret is None or len(secret.get_secret_value()) < MIN_HMAC_SECRET_LENGTH:
        raise ConfigError(
            f"API_HMAC_SECRET must be set to at least {MIN_HMAC_SECRET_LENGTH} "
            "characters to use API keys"
        )
    return secret.get_secret_value().encode()


def derive_secret(settings: Settings, *, prefix: str, salt: str) -> str:
    """The secret of a key, recomputed from the server secret, the prefix and the salt."""
    digest = hmac.new(
        _hmac_secret(settings), f"dpo-api-key\n{prefix}\n{salt}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def canonical_request(*, timestamp: str, method: str, path: str, body: bytes) -> bytes:
    """The string a request signature covers."""
    return f"{timestamp}\n{method.upper()}\n{path}\n{hashlib.sha256(body).hexdigest()}".encode()


def sign(secret: str, *, timestamp: str, method: str, path: str, body: bytes) -> str:
    """The hex signature of a request under a key's secret."""
    message = canonical_request(timestamp=timestamp, method=method, path=path, body=body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(
    full_key: str, *, method: str, path: str, body: bytes = b"", timestamp: int | None = None
) -> dict[str, str]:
    """The three headers a client sends to call the API with a key."""
    prefix, _, secret = full_key.partition(".")
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-Api-Key": prefix,
        "X-Timestamp": stamp,
        "X-Signature": sign(secret, timestamp=stamp, method=method, path=path, body=body),
    }


async def create_api_key(
    session: AsyncSession,
    *,
    name: str,
    role: Role,
    settings: Settings,
    user_id: int | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, ApiKey]:
    """A new key; the full key is returned once and never stored. The caller commits."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError("name must be 1 to 100 characters", field="name")
    prefix, salt = "dpo" + secrets.token_hex(6), secrets.token_hex(16)
    secret = derive_secret(settings, prefix=prefix, salt=salt)
    key = ApiKey(
        prefix=prefix,
        key_hash=f"v1${salt}${_digest(secret)}",
        name=name,
        role=Role(role).value,
        user_id=user_id,
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    return f"{prefix}.{secret}", key


async def revoke_api_key(session: AsyncSession, *, prefix: str) -> bool:
    """Revoke a key by its prefix; False when no live key has it."""
    revoked = await session.scalar(
        update(ApiKey)
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
        .returning(ApiKey.id)
    )
    return revoked is not None


def has_api_key_headers(headers: Mapping[str, str]) -> bool:
    """Whether a request tries to authenticate with an API key.

    One set operation over the names, not a lookup per header name: Starlette's `in` lowercases
    and encodes the name and scans the headers in Python each time (about 15 Python calls for
    the three names, twice per anonymous request).
    """
    return not _API_KEY_HEADERS.isdisjoint(headers.keys())


async def verify_request(
    session: AsyncSession,
    redis: aioredis.Redis,
    *,
    settings: Settings,
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    now: float | None = None,
) -> Principal:
    """The service principal of a signed request; UnauthenticatedError if anything is off.

    `headers` must look names up case-insensitively (Starlette's Headers do). The caller
    commits, which records last_used_at.
    """
    prefix, stamp = headers.get(KEY_HEADER, ""), headers.get(TIMESTAMP_HEADER, "")
    signature = headers.get(SIGNATURE_HEADER, "").lower()
    if not prefix or not stamp or not signature:
        raise UnauthenticatedError("X-Api-Key, X-Timestamp and X-Signature are all required")
    if not is_ascii_digits(stamp) or len(stamp) > 12:
        raise UnauthenticatedError("X-Timestamp must be unix time in seconds")
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > REPLAY_WINDOW:
        raise UnauthenticatedError(f"X-Timestamp is more than {REPLAY_WINDOW} s off")
    moment = datetime.fromtimestamp(current, UTC)
    row = (
        await session.execute(
            select(ApiKey, User.issuer_id)
            .outerjoin(User, User.id == ApiKey.user_id)
            .where(
                ApiKey.prefix == prefix,
                ApiKey.revoked_at.is_(None),
                or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > moment),
            )
        )
    ).one_or_none()
    if row is None:
        raise UnauthenticatedError(_INVALID)
    key, issuer_id = row
    version, _, rest = key.key_hash.partition("$")
    salt, _, digest = rest.partition("$")
    secret = derive_secret(settings, prefix=prefix, salt=salt)
    expected = sign(secret, timestamp=stamp, method=method, path=path, body=body)
    if (
        version != "v1"
        or not hmac.compare_digest(_digest(secret), digest)
        or not hmac.compare_digest(expected, signature)
    ):
        raise UnauthenticatedError(_INVALID)
    # Recorded only once the signature is good, so forgeries cannot block a real request.
    fresh = await redis.set(
        f"dpo:auth:api-sig:{prefix}:{signature}", 1, nx=True, ex=2 * REPLAY_WINDOW + 1
    )
    if not fresh:
        raise UnauthenticatedError("this request was already used; sign a new one")
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key.id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < moment - LAST_USED_RESOLUTION),
        )
        .values(last_used_at=moment)
    )
    return Principal(
        kind=Kind.SERVICE,
        role=key.role,
        user_id=key.user_id,
        issuer_id=issuer_id,
        api_key_prefix=prefix,
    )


async def create_api_key_in_database(
    database_url: str,
    *,
    name: str,
    role: Role,
    settings: Settings,
    expires_at: datetime | None = None,
    actor: str = "system:cli",
) -> str:
    """Create a key in its own transaction, audited (the CLI's path); return the full key."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            full_key, key = await create_api_key(
                session, name=name, role=role, settings=settings, expires_at=expires_at
            )
            session.add(
                AuditLog(
                    actor=actor,
                    action="api_key.create",
                    entity_type="api_key",
                    entity_id=key.prefix,
                    before=None,
                    after={
                        "name": key.name,
                        "role": key.role,
                        "expires_at": expires_at.isoformat() if expires_at else None,
                    },
                )
            )
        return full_key
    finally:
        await engine.dispose()


async def revoke_api_key_in_database(
    database_url: str, *, prefix: str, actor: str = "system:cli"
) -> bool:
    """Revoke a key in its own transaction, audited; False when no live key has the prefix."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            revoked = await revoke_api_key(session, prefix=prefix)
            if revoked:
                session.add(
                    AuditLog(
                        actor=actor,
                        action="api_key.revoke",
                        entity_type="api_key",
                        entity_id=prefix,
                        before={"revoked": False},
                        after={"revoked": True},
                    )
                )
        return revoked
    finally:
        await engine.dispose()
