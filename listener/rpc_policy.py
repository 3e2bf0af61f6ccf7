"""Pure rules of the RPC client: error classification, range hints, backoff, redaction."""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import Enum
from urllib.parse import parse_qsl, urlsplit

import httpx


class Verdict(Enum):
    """What to do with a JSON-RPC error object."""

    RETRY = "retry"
    FATAL = "fatal"
    RANGE = "range"


@dataclass(frozen=True)
class RangeHint:
    """What a provider's range refusal tells us: a range that works and/or its limit."""

    suggested: tuple[int, int] | None
    max_range: int | None


# Texts of eth_getLogs refusals by Infura, Alchemy, QuickNode, Ankr, Chainstack, NodeReal,
# BlastAPI, Cloudflare, Erigon, Besu and public endpoints.
_RANGE_PATTERNS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"query returned more than [\d,]+ results",
        r"query exceeds max results",
        r"block range (is )?too (wide|large|big)",
        r"block range (limit )?exceeded",
        r"exceed(s|ed)? (the )?max(imum)? block range",
        r"limited to (a )?[\d,]+\s*(-block|blocks?)?\s*range",
        r"log response size exceeded",
        r"response size (exceeded|should not)",
        r"range should work",
        r"try with this block range",
        r"(requested|too) many blocks",
        r"block range (greater than|exceeds?|is greater)",
        r"max(imum)? (block )?range( is|:)",
        r"too many (logs|results)",
        r"reduc(e|ing) your block range",
        r"logs? (result )?(set )?(is )?too large",
    )
]

_SUGGESTED = re.compile(
    r"\[\s*(0x[0-9a-f]+|\d+)\s*,\s*(0x[0-9a-f]+|\d+)\s*\]",
    re.IGNORECASE,
)
_NUMBER = r"(\d[\d,]*(?:\.\d+)?\s*[kK]?)"
_MAX_RANGE = [
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"limited to (?:a )?{_NUMBER}\s*(?:-block|blocks?)?\s*range",
        rf"max(?:imum)? block range(?: is)?:?\s*{_NUMBER}",
        rf"max(?:imum)? range(?: is)?:?\s*{_NUMBER}",
        rf"maximum is set to {_NUMBER}",
        rf"up to (?:a )?{_NUMBER}\s*block range",
        rf"block range (?:greater than|exceeds?|limit(?: is)?:?)\s*{_NUMBER}",
        rf"range (?:is )?limited to {_NUMBER}",
    )
]

# -32000 texts that mean "this node, right now": another attempt (or provider) can succeed.
_TRANSIENT_TEXTS = (
    "header not found",
    "missing trie node",
    "timeout",
    "timed out",
    "rate limit",
    "too many requests",
    "limit exceeded",
    "try again",
    "temporarily",
    "unavailable",
    "overloaded",
    "busy",
    "capacity",
    "request limit",
    "daily request count",
    "backend",
    "upstream",
    "connection",
    "not synced",
    "syncing",
    "internal error",
    "unknown block",
)
# A node behind its load-balanced peers refuses blocks it has not seen yet; a peer may have.
_LAGGING_TEXTS = (
    "header not found",
    "unknown block",
    "blockoutofrange",
    "block height is",
    "beyond current head",
    "greater than latest",
    "future block",
    "after last accepted block",
)
_FATAL_TEXTS = (
    "execution reverted",
    "invalid argument",
    "invalid params",
    "method not found",
    "does not exist/is not available",
    "not supported",
    "unsupported method",
)


def _to_int(text: str) -> int:
    text = text.strip().replace(",", "")
    if text.lower().endswith("k"):
        return int(float(text[:-1]) * 1000)
    return int(text, 16) if text.lower().startswith("0x") else int(float(text))


def is_range_error(message: str) -> bool:
    """Tell whether an eth_getLogs error text is a block-range or result-size refusal."""
    return any(pattern.search(message) for pattern in _RANGE_PATTERNS)


def parse_range_hint(message: str) -> RangeHint:
    """The range a provider suggests (inclusive) and the block-range limit it states."""
    suggested = None
    match = _SUGGESTED.search(message)
    if match:
        low, high = _to_int(match.group(1)), _to_int(match.group(2))
        if low <= high:
            suggested = (low, high)
    max_range = None
    for pattern in _MAX_RANGE:
        found = pattern.search(message)
        if found:
            max_range = _to_int(found.group(1))
            break
    return RangeHint(suggested=suggested, max_range=max_range if max_range else None)


def classify_rpc_error(code: int | None, message: str, method: str) -> Verdict:
    """Decide whether a JSON-RPC error is a range refusal, worth retrying, or final."""
    text = message.lower()
    if method == "eth_getLogs" and is_range_error(message):
        return Verdict.RANGE
    if code == 3 or "execution reverted" in text:
        return Verdict.FATAL
    if any(fragment in text for fragment in _LAGGING_TEXTS):
        return Verdict.RETRY
    if code in (-32601, -32602, -32600, -32700):
        return Verdict.FATAL
    if any(fragment in text for fragment in _FATAL_TEXTS):
        return Verdict.FATAL
    if code in (-32005, -32603, 429, -32097, -32098, -32099):
        return Verdict.RETRY
    if any(fragment in text for fragment in _TRANSIENT_TEXTS):
        return Verdict.RETRY
    # -32000..-32099 are "server error" codes: unknown ones are a node's trouble, not ours.
    if code is not None and -32099 <= code <= -32000:
        return Verdict.RETRY
    return Verdict.FATAL


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Full-jitter delay before retry `attempt` (0-based): uniform in [0, min(cap, base*2^n)]."""
    ceiling = min(cap, base * (2 ** min(attempt, 62)))
    return rng.uniform(0.0, ceiling)


def parse_retry_after(
    value: str | None, *, cap: float, now: datetime | None = None
) -> float | None:
    """Seconds a Retry-After header asks for (seconds or HTTP date), capped; None if unusable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(cap, max(0.0, seconds))


def endpoint_label(url: str) -> str:
    """scheme://host[:port] of an RPC URL: its token (path, query, user info) never leaves."""
    parts = urlsplit(url)
    host = parts.hostname or "unknown-host"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    scheme = parts.scheme or "unknown"
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def http_url(url: str) -> str:
    """The HTTP form of a ws(s):// RPC URL (providers serve both on one path); others as is."""
    scheme, separator, rest = url.partition("://")
    mapped = {"ws": "http", "wss": "https"}.get(scheme.lower())
    return f"{mapped}{separator}{rest}" if mapped else url


def scrub(text: str, urls: list[str] | tuple[str, ...]) -> str:
    """Text with any secret part of the given URLs (path, query, user info) replaced by ***."""
    for url in urls:
        parts = urlsplit(url)
        secrets = [url, parts.path, parts.query, parts.username or "", parts.password or ""]
        secrets += [segment for segment in parts.path.split("/") if len(segment) >= 8]
        secrets += [value for _, value in parse_qsl(parts.query) if len(value) >= 6]
        for secret in sorted(secrets, key=len, reverse=True):
            if len(secret) > 1:
                text = text.replace(secret, "***")
    return text


class AttemptError(Exception):
    """One attempt failed in a way another attempt may fix."""

    def __init__(self, kind: str, detail: str, *, delay: float | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.delay = delay


class RedactUrls(logging.Filter):
    """Shorten the URLs httpx logs ("HTTP Request: POST <url>") to scheme://host."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                endpoint_label(str(arg)) if isinstance(arg, httpx.URL) else arg
                for arg in record.args
            )
        return True
