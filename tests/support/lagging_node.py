"""What a node behind the chain answers, for the fault proxy's `lag:<n>` and `empty` faults.

A node `n` blocks behind its upstream (geth, erigon, a provider's node behind a load balancer)
reports an older head, has no header above it, clamps `eth_getLogs` to it (an empty or partial
answer, not an error) and errs on a `blockHash`-pinned `eth_getLogs` of a block it has not
imported (EIP-234). A node that lost its receipts (`empty`: pruned, snapshot-restored) answers
every range `eth_getLogs` with nothing. A batch is answered item by item by that one node.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx


async def _call(client: httpx.AsyncClient, upstream: str, method: str, params: list[Any]) -> Any:
    response = await client.post(
        upstream, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    )
    return response.json().get("result")


def _result(request: dict[str, Any], result: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": result}).encode()


def _error(request: dict[str, Any], message: str) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": request.get("id"), "error": {"code": -32000, "message": message}}
    ).encode()


def _number(tag: Any, head: int) -> int:
    if isinstance(tag, str) and tag.startswith("0x"):
        return int(tag, 16)
    return head  # latest, pending, safe, finalized: at most our head


async def lagging_answer(
    client: httpx.AsyncClient, upstream: str, request: Any, kind: str, argument: str
) -> tuple[bytes | None, Any]:
    """The answer of a lagging (or receipt-less) node, or None and the request to forward."""
    if not isinstance(request, dict):
        return None, request
    method = request.get("method")
    params = list(request.get("params") or [])
    if kind == "empty":
        if method == "eth_getLogs" and params and "blockHash" not in params[0]:
            return _result(request, []), request
        return None, request
    head = max(0, int(await _call(client, upstream, "eth_blockNumber", []), 16) - int(argument))
    if method == "eth_blockNumber":
        return _result(request, hex(head)), request
    if method == "eth_getBlockByNumber" and params:
        tag = params[0]
        if tag == "finalized":
            final = await _call(client, upstream, "eth_getBlockByNumber", ["finalized", False])
            number = min(head, int(final["number"], 16)) if final else head
        else:
            number = _number(tag, head)
        if number > head:
            return _result(request, None), request
        return None, {**request, "params": [hex(number), *params[1:]]}
    if method == "eth_getLogs" and params and isinstance(params[0], dict):
        query = dict(params[0])
        if "blockHash" in query:
            block = await _call(client, upstream, "eth_getBlockByHash", [query["blockHash"], False])
            if block is None or int(block["number"], 16) > head:
                return _error(request, "unknown block"), request
            return None, request
        first = _number(query.get("fromBlock", "latest"), head)
        last = min(_number(query.get("toBlock", "latest"), head), head)
        if first > last:
            return _result(request, []), request
        query["toBlock"] = hex(last)
        return None, {**request, "params": [query]}
    return None, request


async def lagging_batch(
    client: httpx.AsyncClient, upstream: str, requests: list[Any], kind: str, argument: str
) -> bytes:
    """A batch answered by that node: each item as lagging_answer says, in order."""

    async def one(request: Any) -> Any:
        lagged, forwarded = await lagging_answer(client, upstream, request, kind, argument)
        if lagged is not None:
            return json.loads(lagged)
        return (await client.post(upstream, json=forwarded)).json()

    return json.dumps(await asyncio.gather(*(one(item) for item in requests))).encode()
