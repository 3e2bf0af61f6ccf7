"""Resilient JSON-RPC client over HTTP: timeouts, jittered retries, Retry-After, failover."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from listener import metrics
from listener.chain_check import ChainMismatchError, network_name, verify_chain
from listener.ports import RpcError
from listener.rpc_answer import (
    AnswerTooLargeError,
    LogRangeError,
    check_rate_limit,
    raise_rpc_error,
    read_body,
    read_result,
)
from listener.rpc_batch import BatchCalls, to_header
from listener.rpc_policy import (
    AttemptError,
    RedactUrls,
    backoff_delay,
    endpoint_label,
    http_url,
)

if TYPE_CHECKING:
    from dpo.settings import Settings

__all__ = ["ChainMismatchError", "LogRangeError", "RpcClient", "network_name", "verify_chain"]

logger = logging.getLogger(__name__)

# Bytes of JSON an eth_getLogs answer may take per log of its range's share (ours: ~700).
ANSWER_BYTES_PER_LOG = 2048


# httpx logs every request's full URL at INFO, and provider URLs carry their API token.
_HTTPX_LOGGER = logging.getLogger("httpx")
if not any(isinstance(f, RedactUrls) for f in _HTTPX_LOGGER.filters):
    _HTTPX_LOGGER.addFilter(RedactUrls())


class RpcClient(BatchCalls):
    """`listener.ports.Rpc` over HTTP JSON-RPC with one shared keep-alive connection pool.

    Each attempt has a total deadline of `timeout` seconds. Transport errors, timeouts, HTTP
    5xx/4xx, HTTP 429 (waiting for Retry-After, capped), unparsable bodies and retryable
    JSON-RPC errors are retried with full-jitter exponential backoff; `failover_after`
    consecutive failures on one URL switch to the next, and the primary is tried again once
    `cooldown` seconds have passed. `max_attempts` bounds the attempts of one call across all
    URLs; then RpcError(retryable=True) names the endpoints by scheme://host only. A ws(s)://
    URL is called over HTTP(S) on the same host and path, as providers serve both there.

    Results: get_block returns the node's header dict with `number` and `timestamp` as ints
    (`hash`, `parentHash` and the rest stay 0x-hex strings); get_logs returns the node's raw
    log dicts (hex `blockNumber`, `logIndex`, ...). Range refusals raise LogRangeError (a
    RangeTooLargeError with `suggested` and `max_range`) at once, without retrying.
    get_blocks fetches many headers in JSON-RPC batches of up to `header_batch`
    (listener/rpc_batch.py). An eth_getLogs answer of several blocks past `max_log_bytes`, or
    not there within the timeout, is a LogRangeError suggesting the share that fits.
    """

    def __init__(
        self,
        *,
        urls: Sequence[str],
        timeout: float,
        max_attempts: int = 8,
        backoff_base: float = 0.25,
        backoff_cap: float = 10.0,
        retry_after_cap: float = 30.0,
        failover_after: int = 2,
        cooldown: float = 60.0,
        max_connections: int = 16,
        header_batch: int = 100,
        max_log_bytes: int | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("no RPC URL: set QUICKNODE_URL or BLOCKCHAIN_RPC_URL")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._urls = tuple(http_url(url) for url in urls)
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._base = backoff_base
        self._cap = backoff_cap
        self._retry_after_cap = retry_after_cap
        self._failover_after = max(1, failover_after)
        self._cooldown = cooldown
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._sleep = sleep
        self._clock = clock
        self._ids = itertools.count(1)
        self._batch_limit = max(1, header_batch)
        self._max_log_bytes = max_log_bytes
        self._active = 0
        self._streak = 0
        self._switched_at = 0.0
        #: HTTP 429s and rate-limit errors seen: a caller may lower its concurrency on growth.
        self.pressure = 0
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"Content-Type": "application/json"},
        )

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> RpcClient:
        """A client of the configured endpoints (QUICKNODE_URL first) with RPC_TIMEOUT."""
        options.setdefault("header_batch", settings.listener_header_batch)
        # A range's answer may hold about its share of the logs in flight (follower.py).
        share = settings.listener_max_logs_in_flight // settings.listener_concurrency
        options.setdefault("max_log_bytes", max(1, share) * ANSWER_BYTES_PER_LOG)
        return cls(urls=settings.rpc_urls(), timeout=settings.rpc_timeout, **options)

    @property
    def endpoints(self) -> list[str]:
        """The endpoints as scheme://host, in failover order."""
        return [endpoint_label(url) for url in self._urls]

    @property
    def active_endpoint(self) -> str:
        """The endpoint the next call goes to, as scheme://host."""
        return endpoint_label(self._urls[self._pick()])

    async def chain_id(self) -> int:
        """eth_chainId as an int."""
        return int(await self.call("eth_chainId", []), 16)

    async def block_number(self) -> int:
        """eth_blockNumber as an int."""
        return int(await self.call("eth_blockNumber", []), 16)

    async def get_block(self, block: int | str) -> dict[str, Any] | None:
        """The header (no transactions) or None; number/timestamp as ints, hashes as 0x-hex."""
        tag = hex(block) if isinstance(block, int) else block
        return to_header(await self.call("eth_getBlockByNumber", [tag, False]))

    async def get_logs(
        self, from_block: int, to_block: int, addresses: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Raw logs (hex fields as sent) of an inclusive range; LogRangeError when refused."""
        params = [
            {"fromBlock": hex(from_block), "toBlock": hex(to_block), "address": list(addresses)}
        ]
        # One block cannot be split: its answer is taken whatever its size.
        limit = self._max_log_bytes if to_block > from_block else None
        try:
            logs: list[dict[str, Any]] = await self.call("eth_getLogs", params, max_bytes=limit)
        except AnswerTooLargeError as error:
            error.suggest(from_block, to_block, limit or 1)
            raise
        return logs

    async def get_logs_at(self, block_hash: str, addresses: Sequence[str]) -> list[dict[str, Any]]:
        """Raw logs of the block with this hash (EIP-234); a node without the block errs."""
        logs: list[dict[str, Any]] = await self.call(
            "eth_getLogs", [{"blockHash": block_hash, "address": list(addresses)}]
        )
        return logs

    def report_inconsistent(self) -> None:
        """The caller refused an answer: count it like a failure of the active endpoint."""
        self._record_failure(self._active)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def _pick(self) -> int:
        if self._active != 0 and self._clock() - self._switched_at >= self._cooldown:
            logger.info("RPC cool-down over, back to %s", endpoint_label(self._urls[0]))
            self._active, self._streak = 0, 0
        return self._active

    def _record_failure(self, index: int) -> None:
        if index != self._active:
            return  # a concurrent call already moved on
        self._streak += 1
        if len(self._urls) > 1 and self._streak >= self._failover_after:
            self._active = (index + 1) % len(self._urls)
            self._streak = 0
            self._switched_at = self._clock()
            logger.warning(
                "RPC failover from %s to %s",
                endpoint_label(self._urls[index]),
                endpoint_label(self._urls[self._active]),
            )

    async def call(self, method: str, params: list[Any], *, max_bytes: int | None = None) -> Any:
        """One call with retries and failover: its `result` (AnswerTooLargeError past max_bytes)."""
        return await self._retrying(
            method, lambda index: self._attempt(index, method, params, max_bytes)
        )

    async def _retrying(self, method: str, once: Callable[[int], Awaitable[Any]]) -> Any:
        """`once(url index)` with retries, backoff and failover until one succeeds."""
        last: AttemptError | None = None
        tried: list[str] = []
        for attempt in range(self._max_attempts):
            index = self._pick()
            label = endpoint_label(self._urls[index])
            if label not in tried:
                tried.append(label)
            try:
                return await once(index)
            except AttemptError as failure:
                last = failure
                metrics.RPC_ERRORS.labels(kind=failure.kind).inc()
                if failure.kind == "rate_limited":
                    self.pressure += 1
                self._record_failure(index)
                if attempt + 1 == self._max_attempts:
                    break
                delay = failure.delay
                if delay is None:
                    delay = backoff_delay(attempt, base=self._base, cap=self._cap, rng=self._rng)
                logger.warning(
                    "RPC %s on %s failed (%s: %s); retry %d in %.2fs",
                    method,
                    label,
                    failure.kind,
                    failure.detail,
                    attempt + 1,
                    delay,
                )
                await self._sleep(delay)
        assert last is not None
        raise RpcError(
            f"{method} failed after {self._max_attempts} attempts on {', '.join(tried)}; "
            f"last error {last.kind}: {last.detail}",
            retryable=True,
        )

    async def _attempt(
        self, index: int, method: str, params: list[Any], max_bytes: int | None = None
    ) -> Any:
        request_id = next(self._ids)
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        metrics.RPC_REQUESTS.labels(method=method).inc()
        response, content = await self._post(index, method, orjson.dumps(body), max_bytes)
        return self._result(response, content, method, request_id)

    async def _post(
        self, index: int, method: str, body: bytes, max_bytes: int | None = None
    ) -> tuple[httpx.Response, bytes]:
        """POST one body with the per-attempt deadline; a transport failure is an attempt's."""
        url = self._urls[index]
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                request = self._http.build_request("POST", url, content=body)
                response = await self._http.send(request, stream=True)
                try:
                    content = await read_body(response, max_bytes)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            if max_bytes is not None:  # a range too heavy to answer in time: split, not retry
                raise AnswerTooLargeError(f"no answer within {self._timeout:g}s") from None
            raise AttemptError("timeout", f"no answer within {self._timeout:g}s") from None
        except httpx.HTTPError as error:
            raise AttemptError("transport", type(error).__name__) from None
        finally:
            metrics.RPC_SECONDS.labels(method=method).observe(time.perf_counter() - started)
        return response, content

    def _result(
        self, response: httpx.Response, content: bytes, method: str, request_id: int
    ) -> Any:
        return read_result(
            response,
            content,
            method,
            request_id,
            urls=self._urls,
            retry_after_cap=self._retry_after_cap,
        )

    def _check_rate_limit(self, response: httpx.Response) -> None:
        check_rate_limit(response, retry_after_cap=self._retry_after_cap)

    def _raise_rpc_error(self, error: dict[str, Any], method: str) -> None:
        raise_rpc_error(error, method, urls=self._urls)
