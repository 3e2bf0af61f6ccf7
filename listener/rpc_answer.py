"""Reading one JSON-RPC answer: its status, rate limit, error object and result shape.

Free of the client's state (its endpoints and Retry-After cap are arguments), so the single
calls of listener.rpc and the batches of listener.rpc_batch read answers the same way.
"""

from __future__ import annotations

from typing import Any, NoReturn

import httpx
import orjson

from listener import metrics
from listener.ports import RangeTooLargeError, RpcError
from listener.rpc_policy import (
    AttemptError,
    Verdict,
    classify_rpc_error,
    parse_range_hint,
    parse_retry_after,
    scrub,
)

# The shape of each result we rely on; a node answering otherwise is broken, so retry.
RESULT_TYPES: dict[str, type | tuple[type, ...]] = {
    "eth_chainId": str,
    "eth_blockNumber": str,
    "eth_getLogs": list,
    "eth_getBlockByNumber": (dict, type(None)),
}


class LogRangeError(RangeTooLargeError):
    """eth_getLogs range refusal that may also state the provider's block-range limit."""

    def __init__(
        self,
        message: str,
        *,
        suggested: tuple[int, int] | None = None,
        max_range: int | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message, suggested=suggested, code=code)
        self.max_range = max_range


class AnswerTooLargeError(LogRangeError):
    """An eth_getLogs answer larger than the client takes in one piece (or too slow to come);
    `size` in bytes when known."""

    def __init__(self, message: str, *, size: int | None = None) -> None:
        super().__init__(message)
        self.size = size

    def suggest(self, first: int, last: int, limit: int) -> None:
        """Suggest the share of [first, last] that fits `limit` (with a margin), else half."""
        metrics.RPC_ERRORS.labels(kind="too_large").inc()
        span = last - first + 1
        fits = span * limit * 9 // (10 * self.size) if self.size else span // 2
        self.suggested = (first, first + max(1, fits) - 1)


async def read_body(response: httpx.Response, limit: int | None) -> bytes:
    """The body of a streamed answer; AnswerTooLargeError past `limit` bytes (None: no limit).

    A Content-Length past the limit is refused before the body is read; without one, the
    reading stops at the limit. Either way the connection is given up, not drained.
    """
    length = response.headers.get("content-length")
    if limit is not None and length is not None and length.isdigit() and int(length) > limit:
        raise AnswerTooLargeError(f"answer of {length} bytes", size=int(length))
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if limit is not None and size > limit:
            raise AnswerTooLargeError(f"answer of more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def read_result(
    response: httpx.Response,
    content: bytes,
    method: str,
    request_id: int,
    *,
    urls: tuple[str, ...],
    retry_after_cap: float,
) -> Any:
    """The result of one JSON-RPC answer, or the typed error its status or body means."""
    status = response.status_code
    check_rate_limit(response, retry_after_cap=retry_after_cap)
    try:
        # orjson: a long backfill parses hundreds of MB of logs, ~3x faster than json.
        payload = orjson.loads(content)
    except ValueError:
        payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        raise_rpc_error(error, method, urls=urls)
    if status >= 500:
        raise AttemptError("http_5xx", f"HTTP {status}")
    if status >= 400:
        raise AttemptError("http_4xx", f"HTTP {status}")
    if not isinstance(payload, dict) or "result" not in payload:
        raise AttemptError("bad_body", f"unparsable JSON-RPC body ({len(content)} bytes)")
    if payload.get("id") != request_id:
        raise AttemptError("bad_body", "response id does not match the request")
    result = payload["result"]
    expected = RESULT_TYPES.get(method)
    if expected is not None and not isinstance(result, expected):
        raise AttemptError("bad_body", f"{method} result is {type(result).__name__}")
    return result


def check_rate_limit(response: httpx.Response, *, retry_after_cap: float) -> None:
    """HTTP 429: retry after what Retry-After says (capped)."""
    if response.status_code == 429:
        wait = parse_retry_after(response.headers.get("Retry-After"), cap=retry_after_cap)
        raise AttemptError("rate_limited", "HTTP 429", delay=wait)


def raise_rpc_error(error: dict[str, Any], method: str, *, urls: tuple[str, ...]) -> NoReturn:
    """The typed error a JSON-RPC error object means: a range refusal, fatal, or retryable."""
    code = error.get("code") if isinstance(error.get("code"), int) else None
    message = scrub(str(error.get("message", "")), urls)[:500]
    verdict = classify_rpc_error(code, message, method)
    if verdict is Verdict.RANGE:
        metrics.RPC_ERRORS.labels(kind="range").inc()
        hint = parse_range_hint(message)
        raise LogRangeError(
            f"{method} range refused: {message}",
            suggested=hint.suggested,
            max_range=hint.max_range,
            code=code,
        )
    if verdict is Verdict.FATAL:
        metrics.RPC_ERRORS.labels(kind="rpc_error").inc()
        raise RpcError(f"{method} refused ({code}): {message}", code=code, retryable=False)
    lowered = message.lower()
    if code in (-32005, 429) or "rate" in lowered or "too many requests" in lowered:
        raise AttemptError("rate_limited", f"JSON-RPC {code}: {message}")
    raise AttemptError("rpc_error", f"JSON-RPC {code}: {message}")
