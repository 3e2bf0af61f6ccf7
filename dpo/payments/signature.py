"""The `BillBitts-Signature` header of a webhook: `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`.

`v1` is HMAC-SHA256 keyed with WEBHOOK_SECRET over `<t>.` followed by the raw body, in hex.
During a key rotation BillBitts signs with the old and the new secret and sends both `v1`s;
one match is enough. Other schemes (`v0=…`) are ignored, as the provider may add new ones.

Decisions:
- The header is parsed strictly and bounded (length, entries, digits, hex width), so a
  malformed header is told apart from a forged one: malformed is a 400, forged or out of the
  time window a 401; the handler answers both before touching the database.
- The timestamp must be within ±TOLERANCE seconds of our clock: a captured delivery cannot
  be replayed later (and a replay inside the window is a duplicate event id, stored once).
  A timestamp from the future is refused the same way, so a sender whose clock runs ahead
  cannot mint deliveries that stay valid longer.
- Comparison is `hmac.compare_digest` over every `v1`, never `==`.
- Nothing here logs or returns the secret or the expected signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

HEADER = "BillBitts-Signature"
TOLERANCE = 300  # seconds either side of our clock
MAX_HEADER_CHARS = 2048
MAX_ENTRIES = 16
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SCHEME = re.compile(r"[a-z][a-z0-9]{0,15}")

Reason = Literal["missing", "malformed", "stale", "future", "mismatch"]


class SignatureError(Exception):
    """A delivery whose signature does not hold; `reason` says why (safe to log)."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason

    @property
    def status(self) -> int:
        """The HTTP status to answer: 400 for a header we cannot read, 401 otherwise."""
        return 400 if self.reason in ("missing", "malformed") else 401


@dataclass(frozen=True)
class ParsedHeader:
    """The header's timestamp and its `v1` signatures (raw bytes)."""

    timestamp: int
    signatures: tuple[bytes, ...]


def parse_header(value: str | None) -> ParsedHeader:
    """Read the header, or raise SignatureError (missing / malformed)."""
    if value is None or not value.strip():
        raise SignatureError("missing", f"no {HEADER} header")
    if len(value) > MAX_HEADER_CHARS or not value.isascii():
        raise SignatureError("malformed", f"{HEADER} header is too long or not ASCII")
    entries = value.split(",")
    if len(entries) > MAX_ENTRIES:
        raise SignatureError("malformed", f"{HEADER} header has too many entries")
    timestamp: int | None = None
    signatures: list[bytes] = []
    for entry in entries:
        scheme, sep, item = entry.strip().partition("=")
        if not sep or not _SCHEME.fullmatch(scheme):
            raise SignatureError("malformed", f"{HEADER} header entry is not key=value")
        if scheme == "t":
            if timestamp is not None or not _TIMESTAMP.fullmatch(item):
                raise SignatureError("malformed", f"{HEADER} header needs one t=<unix seconds>")
            timestamp = int(item)
        elif scheme == "v1":
            hexed = item.lower()
            if not _HEX64.fullmatch(hexed):
                raise SignatureError("malformed", f"{HEADER} v1 is not 64 hex digits")
            signatures.append(bytes.fromhex(hexed))
    if timestamp is None:
        raise SignatureError("malformed", f"{HEADER} header has no t=")
    if not signatures:
        raise SignatureError("malformed", f"{HEADER} header has no v1=")
    return ParsedHeader(timestamp, tuple(signatures))


def compute(secret: bytes, timestamp: int, body: bytes) -> str:
    """The `v1` value (hex) of a body sent at `timestamp` under `secret`."""
    return hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def header_value(secrets: Sequence[bytes], timestamp: int, body: bytes) -> str:
    """A header signed with each secret (the sandbox's side; several during a rotation)."""
    return ",".join([f"t={timestamp}", *(f"v1={compute(s, timestamp, body)}" for s in secrets)])


def verify(
    value: str | None,
    body: bytes,
    *,
    secrets: Sequence[bytes],
    now: float,
    tolerance: int = TOLERANCE,
) -> int:
    """The delivery's timestamp when one `v1` matches one of our secrets within the window.

    Raises SignatureError: missing or malformed header (400), a timestamp out of the window
    (stale / future, 401), or no signature matching (mismatch, 401).
    """
    if not secrets or any(not secret for secret in secrets):
        raise ValueError("no webhook secret to verify with")
    parsed = parse_header(value)
    if parsed.timestamp < now - tolerance:
        raise SignatureError("stale", "delivery timestamp is too old")
    if parsed.timestamp > now + tolerance:
        raise SignatureError("future", "delivery timestamp is in the future")
    message = str(parsed.timestamp).encode() + b"." + body
    matched = False
    for secret in secrets:
        expected = hmac.new(secret, message, hashlib.sha256).digest()
        for given in parsed.signatures:
            # Every pair is compared (no early exit), in constant time each.
            matched |= hmac.compare_digest(expected, given)
    if not matched:
        raise SignatureError("mismatch", "no signature matches")
    return parsed.timestamp
