"""The fault proxy's faults for JSON-RPC batches (a request whose body is an array of calls).

nobatch[:<n>]      refuse a batch of more than <n> (default 0) items: JSON-RPC -32600
                   "batch size too large" with id null, as providers with a batch limit do
                   (a smaller batch is forwarded)
drop               forward, then leave the last item out of the answer
itemerror:<c>:<m>  forward, then answer the first item with the error {code c, message m}
object             forward, then answer the first item alone (an object, not an array)
wrongid            forward, then answer every item with another id
lag:<n>, empty     each item answered as that node would (tests/support/lagging_node.py)
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.support.lagging_node import lagging_batch

BATCH_FAULTS = ("nobatch", "drop", "itemerror", "object", "wrongid", "lag", "empty")


async def batch_answer(
    client: httpx.AsyncClient,
    upstream: str,
    forward: Callable[[bytes], Awaitable[tuple[int, bytes]]],
    kind: str,
    argument: str,
    request: list[Any],
) -> tuple[int, bytes]:
    """The HTTP status and body the proxy answers this batch with under this fault."""
    if kind in ("lag", "empty"):
        return 200, await lagging_batch(client, upstream, request, kind, argument)
    if kind == "nobatch" and len(request) > int(argument or 0):
        return 200, json.dumps(
            {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32600, "message": "batch size too large"},
            }
        ).encode()
    status, answer = await forward(json.dumps(request).encode())
    items = json.loads(answer) if status == 200 else None
    if not isinstance(items, list) or not items:
        return status, answer
    if kind == "drop":
        items = items[:-1]
    elif kind == "itemerror":
        code, _, message = argument.partition(":")
        items[0] = {
            "jsonrpc": "2.0",
            "id": items[0].get("id"),
            "error": {"code": int(code), "message": message},
        }
    elif kind == "object":
        return status, json.dumps(items[0]).encode()
    elif kind == "wrongid":
        items = [{**item, "id": 987654321 + i} for i, item in enumerate(items)]
    return status, json.dumps(items).encode()
