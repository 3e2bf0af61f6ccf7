"""Headers by number in JSON-RPC batch requests, for RpcClient (listener/rpc.py).

The proof of range (docs/ARCHITECTURE.md) needs one header per block without our logs; on a
sparse chain that is nearly every block, and one HTTP request per header costs a round trip
and ~3 ms of client CPU each. So get_blocks sends up to `header_batch` eth_getBlockByNumber
calls in one POST (an array); the answer is an array matched by id, in any order.

A batch is one attempt of the client's retry loop, exactly like a single call: a transport
error, a timeout, HTTP 429/4xx/5xx, a non-array answer, an item missing, an item with an error
or an item of the wrong shape fails the whole batch, which is retried with backoff and
failover. A provider that refuses batches (HTTP 413, an error object answering the array with
JSON-RPC -32600 or a message about batches, or every item refused for the batch's sake)
halves the client's batch size for good (one limit for all endpoints: the stricter wins) and
the same headers are asked again in smaller batches, down to single calls. Nothing about the
proof changes: each header is still hash-linked to its neighbours and our tip.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import orjson

from listener import metrics
from listener.ports import RpcError
from listener.rpc_policy import AttemptError

logger = logging.getLogger(__name__)

METHOD = "eth_getBlockByNumber"
# Batch requests of one get_blocks call in flight at once.
BATCHES_IN_FLIGHT = 4


class BatchRefusedError(Exception):
    """The provider refused a batch of this size (not a fault of the endpoint)."""


def to_header(raw: Any) -> dict[str, Any] | None:
    """An eth_getBlockByNumber result with `number` and `timestamp` as ints, or None."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise RpcError(f"eth_getBlockByNumber returned {type(raw).__name__}, not a block")
    raw["number"] = int(raw["number"], 16)
    raw["timestamp"] = int(raw["timestamp"], 16)
    return raw


def _mentions_batch(error: Any) -> bool:
    return isinstance(error, dict) and "batch" in str(error.get("message", "")).lower()


def batch_refusal(status: int, payload: Any) -> str | None:
    """Why this answer to a batch refuses batching itself (retrying cannot help), or None."""
    if status == 413:
        return "HTTP 413"
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and (error.get("code") == -32600 or _mentions_batch(error)):
            return f"JSON-RPC {error.get('code')}: {str(error.get('message', ''))[:200]}"
    if (
        isinstance(payload, list)
        and payload
        and all(isinstance(item, dict) and _mentions_batch(item.get("error")) for item in payload)
    ):
        return f"every item refused: {str(payload[0]['error'].get('message', ''))[:200]}"
    return None


def match_items(payload: list[Any], ids: Sequence[int]) -> list[dict[str, Any]]:
    """The answer's items in the order of `ids`; AttemptError if one is missing or malformed."""
    wanted = set(ids)
    by_id = {
        item["id"]: item for item in payload if isinstance(item, dict) and item.get("id") in wanted
    }
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise AttemptError("bad_body", f"batch answer lacks {len(missing)} of {len(ids)} items")
    return [by_id[i] for i in ids]


class BatchCalls:
    """get_blocks for RpcClient; uses the client's ids, retry loop, POST and error rules."""

    _batch_limit: int
    _ids: itertools.count[int]

    async def get_block(self, block: int | str) -> dict[str, Any] | None:
        raise NotImplementedError  # RpcClient's

    async def _retrying(self, method: str, once: Callable[[int], Awaitable[Any]]) -> Any:
        raise NotImplementedError  # RpcClient's

    async def _post(self, index: int, method: str, body: bytes) -> tuple[httpx.Response, bytes]:
        raise NotImplementedError  # RpcClient's

    def _check_rate_limit(self, response: httpx.Response) -> None:
        raise NotImplementedError  # RpcClient's

    def _raise_rpc_error(self, error: dict[str, Any], method: str) -> None:
        raise NotImplementedError  # RpcClient's

    @property
    def header_batch(self) -> int:
        """Headers per batch request now (lowered for good when a provider refuses a size)."""
        return self._batch_limit

    async def get_blocks(self, numbers: Sequence[int]) -> list[dict[str, Any] | None]:
        """get_block of each number (None where the node has no such block), in order."""
        unique = list(dict.fromkeys(numbers))
        found: dict[int, dict[str, Any] | None] = {}
        size = self._batch_limit
        limit = asyncio.Semaphore(BATCHES_IN_FLIGHT)

        async def chunk(part: list[int]) -> None:
            async with limit:
                await self._fetch(part, found)

        await asyncio.gather(*(chunk(unique[i : i + size]) for i in range(0, len(unique), size)))
        return [found[n] for n in numbers]

    async def _fetch(self, numbers: list[int], found: dict[int, dict[str, Any] | None]) -> None:
        todo = numbers
        while todo:
            size = self._batch_limit
            if size <= 1 or len(todo) == 1:
                headers = await asyncio.gather(*(self.get_block(n) for n in todo))
                found.update(zip(todo, headers, strict=True))
                return
            part, rest = todo[:size], todo[size:]
            try:
                raws = await self._retrying(METHOD, functools.partial(self._batch, part))
            except BatchRefusedError as refused:
                self._lower_batch(len(part), str(refused))
                continue
            found.update((n, to_header(raw)) for n, raw in zip(part, raws, strict=True))
            todo = rest

    def _lower_batch(self, refused_size: int, reason: str) -> None:
        metrics.RPC_ERRORS.labels(kind="batch_refused").inc()
        lowered = max(1, min(self._batch_limit, refused_size // 2))
        if lowered < self._batch_limit:
            logger.warning(
                "the RPC provider refused a batch of %d headers (%s); batches of %d from now on",
                refused_size,
                reason,
                lowered,
            )
        self._batch_limit = lowered

    async def _batch(self, numbers: list[int], index: int) -> list[Any]:
        ids = [next(self._ids) for _ in numbers]
        body = [
            {"jsonrpc": "2.0", "id": i, "method": METHOD, "params": [hex(n), False]}
            for i, n in zip(ids, numbers, strict=True)
        ]
        metrics.RPC_REQUESTS.labels(method="batch").inc()
        metrics.RPC_REQUESTS.labels(method=METHOD).inc(len(numbers))
        response, content = await self._post(index, "batch", orjson.dumps(body))
        self._check_rate_limit(response)
        try:
            payload = orjson.loads(content)
        except ValueError:
            payload = None
        status = response.status_code
        reason = batch_refusal(status, payload)
        if reason is not None:
            raise BatchRefusedError(reason)
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            self._raise_rpc_error(payload["error"], METHOD)
        if status >= 400:
            raise AttemptError("http_5xx" if status >= 500 else "http_4xx", f"HTTP {status}")
        if not isinstance(payload, list):
            raise AttemptError(
                "bad_body",
                f"a batch answered with {type(payload).__name__}, "
                f"not an array ({len(content)} bytes)",
            )
        results = []
        for item in match_items(payload, ids):
            if isinstance(item.get("error"), dict):
                self._raise_rpc_error(item["error"], METHOD)
            result = item.get("result", ...)
            if result is not None and not isinstance(result, dict):
                raise AttemptError("bad_body", f"a batch item is {type(result).__name__}")
            results.append(result)
        return results
