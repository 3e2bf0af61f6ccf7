"""Subscribers over real sockets and the server's feed metrics, for the fan-out tests."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import httpx

from dpo.auth.principal import Principal
from tests.e2e.test_subscriptions import ADMIN, signed_in
from tests.integration.streaming.wsclient import EVENTS, TRANSPORT_WS, GraphQLSocket, open_socket


async def metrics(base: str) -> dict[str, float]:
    """The server's /metrics as {series: value}."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(base + "/metrics")).text
    return {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


async def subscribed(base: str, count: int) -> dict[str, float]:
    """/metrics once the server runs `count` feed subscriptions (subscribers without a cursor
    start at the head: an item emitted before they run would not reach them)."""
    seen: dict[str, float] = {}
    for _ in range(600):
        seen = await metrics(base)
        if seen.get("dpo_feed_subscriptions") == count:
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"never {count} subscriptions: {seen.get('dpo_feed_subscriptions')}")


async def signed_in_socket(
    stack: AsyncExitStack, base: str, principal: Principal = ADMIN, protocol: str = TRANSPORT_WS
) -> GraphQLSocket:
    """A socket signed in as `principal`, closed with the stack."""
    sock = await stack.enter_async_context(open_socket(base, protocol=protocol))
    await signed_in(sock, principal)
    return sock


async def subscriber(
    stack: AsyncExitStack,
    base: str,
    op_id: str,
    document: str = EVENTS,
    *,
    principal: Principal = ADMIN,
    protocol: str = TRANSPORT_WS,
    variables: dict[str, Any] | None = None,
) -> GraphQLSocket:
    """A signed-in socket subscribed to `document` (with `variables`) as operation `op_id`."""
    sock = await signed_in_socket(stack, base, principal, protocol)
    await sock.subscribe(op_id, document, **(variables or {}))
    return sock
