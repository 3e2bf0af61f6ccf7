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
