"""Sign-In with Ethereum (EIP-4361): nonces and verification (the grammar: siwe_message).

The expected domain is SIWE_DOMAIN when set, else the first concrete ALLOWED_HOSTS entry,
else (outside production) the Host the request came to; see `expected_domain`. A message
passes when it parses, names that domain and our chain id, is inside its time bounds, its
signature recovers to the address it names, and its nonce is ours, unexpired and unused. The
nonce is consumed last, so a bad signature leaves it usable.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.siwe_message import SiweMessage, parse_message
from dpo.db.models import AuthNonce
from dpo.errors import UnauthenticatedError, ValidationError
from dpo.settings import ConfigError, Settings

NONCE_TTL = timedelta(minutes=10)
CLOCK_SKEW = timedelta(seconds=60)


def expected_domain(settings: Settings, *, request_host: str | None) -> str:
    """The domain a message must name (see the module docstring)."""
    if settings.siwe_domain:
        return settings.siwe_domain
    for host in settings.allowed_hosts:
        if host != "*" and not host.startswith("."):
            return host
    if settings.is_production or not request_host:
        raise ConfigError(
            "SIWE_DOMAIN or a concrete ALLOWED_HOSTS entry is needed for Sign-In with Ethereum"
        )
    return request_host


def _domain_matches(domain: str, expected: str) -> bool:
    # An expected domain without a port accepts the message's host on any port.
    if ":" in expected:
        return domain.lower() == expected.lower()
    return domain.rsplit(":", 1)[0].lower() == expected.lower()


def check_message(
    message: SiweMessage, *, domain: str, chain_id: int, now: datetime | None = None
) -> None:
    """Refuse a message for another site or chain, or outside its time bounds."""
    now = now or datetime.now(UTC)
    if not _domain_matches(message.domain, domain):
        raise UnauthenticatedError("the message is for another domain")
    if message.chain_id != chain_id:
        raise UnauthenticatedError(f"the message is for chain {message.chain_id}, not {chain_id}")
    if message.issued_at > now + CLOCK_SKEW:
        raise UnauthenticatedError("the message is issued in the future")
    if message.expiration_time is not None and message.expiration_time <= now:
        raise UnauthenticatedError("the message has expired")
    if message.not_before is not None and message.not_before > now + CLOCK_SKEW:
        raise UnauthenticatedError("the message is not valid yet")


def recover_signer(text: str, signature: str) -> str:
    """The checksummed address that signed the text (EIP-191 personal_sign)."""
    raw = signature.removeprefix("0x")
    if not re.fullmatch(r"[0-9a-fA-F]{130}", raw):
        raise UnauthenticatedError("the signature does not match the message")
    try:
        return str(Account.recover_message(encode_defunct(text=text), signature=bytes.fromhex(raw)))
    except Exception:  # eth-account raises several types for unrecoverable signatures
        raise UnauthenticatedError("the signature does not match the message") from None


def verify_signature(message: SiweMessage, text: str, signature: str) -> None:
    """Refuse a signature not made by the message's address."""
    if recover_signer(text, signature) != message.address:
        raise UnauthenticatedError("the signature does not match the message")


async def create_nonce(
    session: AsyncSession, *, address: str | None = None, now: datetime | None = None
) -> AuthNonce:
    """A fresh single-use nonce (128 random bits) valid for ten minutes; the caller commits."""
    if address is not None and not re.fullmatch(r"0x[0-9a-fA-F]{40}", address):
        raise ValidationError("not an Ethereum address", field="address")
    now = now or datetime.now(UTC)
    nonce = AuthNonce(nonce=secrets.token_hex(16), address=address, expires_at=now + NONCE_TTL)
    session.add(nonce)
    await session.flush()
    return nonce


async def consume_nonce(
    session: AsyncSession, *, nonce: str, address: str, now: datetime | None = None
) -> None:
    """Mark the nonce used by this address, or refuse it; one statement, so race-safe."""
    now = now or datetime.now(UTC)
    used = await session.scalar(
        update(AuthNonce)
        .where(
            AuthNonce.nonce == nonce,
            AuthNonce.used_at.is_(None),
            AuthNonce.expires_at > now,
            or_(AuthNonce.address.is_(None), func.lower(AuthNonce.address) == address.lower()),
        )
        .values(used_at=now, address=address)
        .returning(AuthNonce.id)
    )
    if used is None:
        raise UnauthenticatedError(
            "the sign-in nonce is unknown, used or expired; request a new one"
        )


async def verify_sign_in(
    session: AsyncSession,
    *,
    text: str,
    signature: str,
    domain: str,
    chain_id: int,
    now: datetime | None = None,
) -> SiweMessage:
    """Every check of a sign-in, consuming the nonce last; the caller commits."""
    message = parse_message(text)
    check_message(message, domain=domain, chain_id=chain_id, now=now)
    verify_signature(message, text, signature)
    await consume_nonce(session, nonce=message.nonce, address=message.address, now=now)
    return message


async def purge_nonces(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Delete nonces past their expiry, used or not (a job's housekeeping); return how many."""
    result = await session.execute(
        delete(AuthNonce)
        .where(AuthNonce.expires_at <= (now or datetime.now(UTC)))
        .returning(AuthNonce.id)
    )
    return len(result.all())
