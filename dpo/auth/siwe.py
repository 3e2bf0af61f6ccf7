"""Sign-In with Ethereum (EIP-4361): message grammar, nonces and verification.

The expected domain is SIWE_DOMAIN when set, else the first concrete ALLOWED_HOSTS entry,
else (outside production) the Host the request came to; see `expected_domain`. A message
passes when it parses, names that domain and our chain id, is inside its time bounds, its
signature recovers to the address it names, and its nonce is ours, unexpired and unused. The
nonce is consumed last, so a bad signature leaves it usable.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.address import is_checksum_address
from sqlalchemy import delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.db.models import AuthNonce
from dpo.errors import UnauthenticatedError, ValidationError
from dpo.inputs import is_ascii_digits
from dpo.settings import ConfigError, Settings

NONCE_TTL = timedelta(minutes=10)
CLOCK_SKEW = timedelta(seconds=60)
MAX_MESSAGE_LENGTH = 4096
_HEADER = " wants you to sign in with your Ethereum account:"
_NONCE = re.compile(r"^[A-Za-z0-9]{8,64}$")
_DOMAIN = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
# ASCII digits only: \d would also match '٢' (dpo.inputs).
_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
                   r"(Z|[+-][0-9]{2}:[0-9]{2})$")
_FIELDS = ("URI", "Version", "Chain ID", "Nonce", "Issued At", "Expiration Time",
           "Not Before", "Request ID")
_OPTIONAL = frozenset({"Expiration Time", "Not Before", "Request ID"})


@dataclass(frozen=True)
class SiweMessage:
    """The fields of an EIP-4361 message."""

    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: datetime
    version: str = "1"
    statement: str | None = None
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)
    scheme: str | None = None

    def format(self) -> str:
        """The exact text the wallet signs."""
        prefix = f"{self.scheme}://" if self.scheme else ""
        lines = [f"{prefix}{self.domain}{_HEADER}", self.address, ""]
        if self.statement is not None:
            lines.append(self.statement)
        lines += ["", f"URI: {self.uri}", f"Version: {self.version}",
                  f"Chain ID: {self.chain_id}", f"Nonce: {self.nonce}",
                  f"Issued At: {format_time(self.issued_at)}"]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {format_time(self.expiration_time)}")
        if self.not_before is not None:
            lines.append(f"Not Before: {format_time(self.not_before)}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {resource}" for resource in self.resources]
        return "\n".join(lines)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a Z, milliseconds only when present."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + "Z"


def _time(name: str, text: str) -> datetime:
    if not _TIME.match(text):
        raise ValidationError(f"{name} must be an RFC 3339 date-time", field="message")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{name} is not a valid date-time", field="message") from None


def _bad(reason: str) -> ValidationError:
    return ValidationError(f"not a Sign-In with Ethereum message: {reason}", field="message")


def parse_message(text: str) -> SiweMessage:
    """Parse an EIP-4361 message; ValidationError says what is wrong with it."""
    if len(text) > MAX_MESSAGE_LENGTH:
        raise _bad("too long")
    lines = text.split("\n")
    if not lines[0].endswith(_HEADER):
        raise _bad("the first line must end with" + _HEADER)
    if len(lines) < 5:
        raise _bad("too short")
    origin = lines[0][: -len(_HEADER)]
    scheme, _, domain = origin.rpartition("://")
    if (scheme and not _SCHEME.match(scheme)) or not _DOMAIN.match(domain):
        raise _bad("invalid domain")
    address = lines[1]
    if not is_checksum_address(address):
        raise _bad("the address must be an EIP-55 checksummed address")
    if lines[2] != "":
        raise _bad("expected an empty line after the address")
    statement: str | None = None
    index = 3
    if lines[3] != "":
        statement, index = lines[3], 4
        if lines[4] != "":
            raise _bad("the statement must be one line followed by an empty line")
    index += 1
    values: dict[str, str] = {}
    expected = list(_FIELDS)
    resources: list[str] = []
    while index < len(lines):
        line = lines[index]
        index += 1
        if line == "Resources:":
            resources = [item[2:] for item in lines[index:]]
            if not all(item.startswith("- ") and _URI.match(item[2:]) for item in lines[index:]):
                raise _bad("each resource must be a line '- URI'")
            break
        name, sep, value = line.partition(": ")
        while expected and expected[0] != name and expected[0] in _OPTIONAL:
            expected.pop(0)
        if not sep or not expected or expected[0] != name:
            raise _bad(f"unexpected line {line[:40]!r}")
        expected.pop(0)
        values[name] = value
    missing = [name for name in _FIELDS if name not in _OPTIONAL and name not in values]
    if missing:
        raise _bad("missing " + ", ".join(missing))
    if values["Version"] != "1":
        raise _bad("Version must be 1")
    if not is_ascii_digits(values["Chain ID"]) or len(values["Chain ID"]) > 20:
        raise _bad("Chain ID must be a number")
    if not _NONCE.match(values["Nonce"]):
        raise _bad("Nonce must be 8 or more letters and digits")
    if not _URI.match(values["URI"]):
        raise _bad("URI must be an absolute URI")
    return SiweMessage(
        domain=domain, address=address, uri=values["URI"], chain_id=int(values["Chain ID"]),
        nonce=values["Nonce"], issued_at=_time("Issued At", values["Issued At"]),
        version="1", statement=statement,
        expiration_time=(_time("Expiration Time", values["Expiration Time"])
                         if "Expiration Time" in values else None),
        not_before=_time("Not Before", values["Not Before"]) if "Not Before" in values else None,
        request_id=values.get("Request ID"), resources=tuple(resources), scheme=scheme or None,
    )


def expected_domain(settings: Settings, *, request_host: str | None) -> str:
    """The domain a message must name (see the module docstring)."""
    if settings.siwe_domain:
        return settings.siwe_domain
    for host in settings.allowed_hosts:
        if host != "*" and not host.startswith("."):
            return host
    if settings.is_production or not request_host:
        raise ConfigError("SIWE_DOMAIN or a concrete ALLOWED_HOSTS entry is needed for "
                          "Sign-In with Ethereum")
    return request_host


def _domain_matches(domain: str, expected: str) -> bool:
    # An expected domain without a port accepts the message's host on any port.
    if ":" in expected:
        return domain.lower() == expected.lower()
    return domain.rsplit(":", 1)[0].lower() == expected.lower()


def check_message(message: SiweMessage, *, domain: str, chain_id: int,
                  now: datetime | None = None) -> None:
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
        return str(Account.recover_message(encode_defunct(text=text),
                                           signature=bytes.fromhex(raw)))
    except Exception:  # eth-account raises several types for unrecoverable signatures
        raise UnauthenticatedError("the signature does not match the message") from None


def verify_signature(message: SiweMessage, text: str, signature: str) -> None:
    """Refuse a signature not made by the message's address."""
    if recover_signer(text, signature) != message.address:
        raise UnauthenticatedError("the signature does not match the message")


async def create_nonce(session: AsyncSession, *, address: str | None = None,
                       now: datetime | None = None) -> AuthNonce:
    """A fresh single-use nonce (128 random bits) valid for ten minutes; the caller commits."""
    if address is not None and not re.fullmatch(r"0x[0-9a-fA-F]{40}", address):
        raise ValidationError("not an Ethereum address", field="address")
    now = now or datetime.now(UTC)
    nonce = AuthNonce(nonce=secrets.token_hex(16), address=address, expires_at=now + NONCE_TTL)
    session.add(nonce)
    await session.flush()
    return nonce


async def consume_nonce(session: AsyncSession, *, nonce: str, address: str,
                        now: datetime | None = None) -> None:
    """Mark the nonce used by this address, or refuse it; one statement, so race-safe."""
    now = now or datetime.now(UTC)
    used = await session.scalar(
        update(AuthNonce)
        .where(AuthNonce.nonce == nonce, AuthNonce.used_at.is_(None), AuthNonce.expires_at > now,
               or_(AuthNonce.address.is_(None),
                   func.lower(AuthNonce.address) == address.lower()))
        .values(used_at=now, address=address)
        .returning(AuthNonce.id)
    )
    if used is None:
        raise UnauthenticatedError("the sign-in nonce is unknown, used or expired; "
                                   "request a new one")


async def verify_sign_in(session: AsyncSession, *, text: str, signature: str, domain: str,
                         chain_id: int, now: datetime | None = None) -> SiweMessage:
    """Every check of a sign-in, consuming the nonce last; the caller commits."""
    message = parse_message(text)
    check_message(message, domain=domain, chain_id=chain_id, now=now)
    verify_signature(message, text, signature)
    await consume_nonce(session, nonce=message.nonce, address=message.address, now=now)
    return message


async def purge_nonces(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Delete nonces past their expiry, used or not (a job's housekeeping); return how many."""
    result = await session.execute(
        delete(AuthNonce).where(AuthNonce.expires_at <= (now or datetime.now(UTC)))
        .returning(AuthNonce.id))
    return len(result.all())
