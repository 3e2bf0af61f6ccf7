"""A small JSON-RPC client for the sender: retries what is safe to retry, keeps revert data.

Every call the sender makes is safe to repeat: reads, and eth_sendRawTransaction of bytes
already signed and recorded (the same bytes are the same transaction; a node that has it
answers "already known", one that mined it "nonce too low"). So transport errors, timeouts,
HTTP 5xx/429 and garbled bodies are retried with backoff, switching to the next URL after
each failure; a JSON-RPC error object is the node's answer and goes back to the caller with
its `code`, `message` and `data` (the revert data of a custom error).

Provider URLs carry API tokens: messages name an endpoint by scheme://host only, and httpx's
request log is silenced below WARNING.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from dpo.sender import metrics

logger = logging.getLogger(__name__)
BATCH_SIZE = 100
logging.getLogger("httpx").setLevel(logging.WARNING)


class RpcUnavailableError(Exception):
    """No endpoint answered within the attempts: try again later."""


class RpcCallError(Exception):
    """The node answered with a JSON-RPC error."""

    def __init__(self, method: str, code: int | None, message: str, data: str | None) -> None:
        super().__init__(f"{method}: {message}")
        self.method = method
        self.code = code
        self.message = message
        self.data = data


def endpoint_label(url: str) -> str:
    """scheme://host[:port] of a URL: never its path, query or credentials."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def http_url(url: str) -> str:
    """A ws(s):// provider URL called over HTTP(S) on the same host and path."""
    if url.startswith("wss://"):
        return "https://" + url[len("wss://") :]
    if url.startswith("ws://"):
        return "http://" + url[len("ws://") :]
    return url


def _revert_data(error: dict[str, Any]) -> str | None:
    data = error.get("data")
    if isinstance(data, dict):  # some nodes nest it: {"data": {"data": "0x..."}}
        data = data.get("data")
    return data if isinstance(data, str) and data.startswith("0x") else None


class Rpc:
    """JSON-RPC over HTTP to the configured endpoints, first one first."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        timeout: float,
        attempts: int = 4,
        backoff: float = 0.2,
        backoff_cap: float = 2.0,
    ) -> None:
        if not urls:
            raise ValueError("no RPC URL: set QUICKNODE_URL or BLOCKCHAIN_RPC_URL")
        self._urls = [http_url(url) for url in urls]
        self._timeout = timeout
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._backoff_cap = backoff_cap
        self._active = 0
        self._ids = itertools.count(1)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), headers={"Content-Type": "application/json"}
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def call(self, method: str, params: list[Any]) -> Any:
        """The `result` of one call; RpcCallError for the node's error, or RpcUnavailableError."""
        last = ""
        for attempt in range(self._attempts):
            url = self._urls[self._active]
            try:
                return await self._once(url, method, params)
            except _AttemptError as failure:
                last = f"{failure.kind} on {endpoint_label(url)}"
                metrics.RPC_ERRORS.labels(kind=failure.kind).inc()
                self._active = (self._active + 1) % len(self._urls)
                if attempt + 1 < self._attempts:
                    await asyncio.sleep(min(self._backoff_cap, self._backoff * 2**attempt))
        logger.warning("RPC %s failed %d times; last: %s", method, self._attempts, last)
        raise RpcUnavailableError(f"{method} failed {self._attempts} times; last: {last}")

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Many calls in JSON-RPC batches of BATCH_SIZE: each item's result, or its
        RpcCallError (returned, not raised). A batch is retried whole like one call; a node
        that refuses batches gets the calls one by one."""
        out: list[Any] = []
        for start in range(0, len(calls), BATCH_SIZE):
            chunk = calls[start : start + BATCH_SIZE]
            try:
                out.extend(await self.call("batch", [chunk]))
            except RpcCallError:  # batches refused: one call each
                out.extend(await asyncio.gather(*(self._one_or_error(m, p) for m, p in chunk)))
        return out

    async def _one_or_error(self, method: str, params: list[Any]) -> Any:
        try:
            return await self.call(method, params)
        except RpcCallError as error:
            return error

    async def _once(self, url: str, method: str, params: list[Any]) -> Any:
        if method == "batch":
            return await self._batch_once(url, params[0])
        request_id = next(self._ids)
        payload = await self._post(
            url,
            orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}),
        )
        if not isinstance(payload, dict) or payload.get("id") != request_id:
            raise _AttemptError("bad_body")
        error = payload.get("error")
        if isinstance(error, dict):
            code = error.get("code") if isinstance(error.get("code"), int) else None
            if code in (-32005, 429):
                raise _AttemptError("rate_limited")
            message = self._scrub(str(error.get("message", ""))[:500])
            raise RpcCallError(method, code, message, _revert_data(error))
        if "result" not in payload:
            raise _AttemptError("bad_body")
        return payload["result"]

    async def _post(self, url: str, body: bytes) -> Any:
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._http.post(url, content=body)
        except (TimeoutError, httpx.TimeoutException):
            raise _AttemptError("timeout") from None
        except httpx.HTTPError:
            raise _AttemptError("transport") from None
        if response.status_code == 429:
            raise _AttemptError("rate_limited")
        if response.status_code >= 400:
            raise _AttemptError("http_error")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise _AttemptError("bad_body") from None

    async def _batch_once(self, url: str, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        ids = [next(self._ids) for _ in calls]
        body = orjson.dumps(
            [
                {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                for i, (m, p) in zip(ids, calls, strict=True)
            ]
        )
        payload = await self._post(url, body)
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            raise RpcCallError("batch", None, "batch refused", None)
        if not isinstance(payload, list):
            raise _AttemptError("bad_body")
        by_id = {item.get("id"): item for item in payload if isinstance(item, dict)}
        results: list[Any] = []
        for request_id, (method, _) in zip(ids, calls, strict=True):
            item = by_id.get(request_id)
            if item is None:
                raise _AttemptError("bad_body")  # a missing answer: the batch is asked again
            error = item.get("error")
            if isinstance(error, dict):
                code = error.get("code") if isinstance(error.get("code"), int) else None
                if code in (-32005, 429):
                    raise _AttemptError("rate_limited")
                message = self._scrub(str(error.get("message", ""))[:500])
                results.append(RpcCallError(method, code, message, _revert_data(error)))
            elif "result" in item:
                results.append(item["result"])
            else:
                raise _AttemptError("bad_body")
        return results

    def _scrub(self, message: str) -> str:
        for known in self._urls:
            message = message.replace(known, endpoint_label(known))
        return message


class _AttemptError(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind
