"""A reorg deeper than the window halts `dpo listener`; the feed's subscribers are told, and
told again when the operator's `--rewind` resumed it (real listener, web, WebSocket and SSE)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from web3 import AsyncHTTPProvider, AsyncWeb3

from dpo.auth.principal import Kind, Principal
from tests.e2e.conftest import web_server
from tests.e2e.test_listener_process import chain, databases, listener_env, reach, start, stop
from tests.e2e.test_subscriptions import server_env, signed_in
from tests.e2e.test_subscriptions_sse import headers, messages
from tests.integration.chain.conftest import deployed, w3
from tests.integration.chain.test_contracts import Chain, ref
from tests.integration.listener.test_follower import Sessions, head, with_offering
from tests.integration.streaming.wsclient import EVENTS, GraphQLSocket, open_socket
from tests.support.processes import Logged

pytestmark = [pytest.mark.needs_chain, pytest.mark.timeout(180)]

__all__ = ["chain", "databases", "deployed", "w3"]

FEED_STATUS = "subscription { feedStatus { chainId state lastBlock haltedAt reason message } }"
INVESTOR = Principal(
    kind=Kind.WALLET,
    role="investor",
    investor_id=1,
    address="0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
)


class Frames:
    """The socket's results by operation id, read in arrival order."""

    def __init__(self, sock: GraphQLSocket) -> None:
        self.sock = sock
        self.got: dict[str, list[dict[str, Any]]] = {}

    async def next(self, op_id: str) -> dict[str, Any]:
        while not self.got.get(op_id):
            message = await self.sock.receive()
            assert message["type"] in ("next", "data"), message
            assert not message["payload"].get("errors"), message
            self.got.setdefault(message["id"], []).append(message["payload"]["data"])
        return self.got[op_id].pop(0)


async def sse_status(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    async for message in messages(response.aiter_lines()):
        assert message["event"] == "next", message
        yield json.loads(message["data"])["data"]["feedStatus"]


async def exit_code(process: Logged) -> tuple[int, str]:
    return await asyncio.to_thread(process.finish, 60)


async def test_a_halted_feed_is_announced_to_its_subscribers_and_so_is_its_resumption(
    anvil_url: str,
    redis_url: str,
    deployed: dict[str, str],
    chain: Chain,
    w3: AsyncWeb3[AsyncHTTPProvider],
    databases: Callable[[], Awaitable[tuple[str, Sessions]]],
) -> None:
    holder = await chain.investor(tokens=10)
    for _ in range(5):
        await chain.send(chain.token.functions.issue(holder, 1, 0, ref()))
    url, sessions = await databases()
    await with_offering(sessions, deployed)
    env = listener_env(url, redis_url, anvil_url, deployed, LISTENER_REORG_WINDOW="2")
    process = start(env)
    rewound: Logged | None = None
    try:
        number, hash_ = await head(chain.w3)
        await reach(process, sessions, number, hash_)
        # A long safety poll: the subscribers must be told by the listener's doorbell.
        with web_server(server_env(url, redis_url, FEED_POLL_INTERVAL="60")) as base:
            async with (
                open_socket(base) as sock,
                httpx.AsyncClient(base_url=base, timeout=90) as http,
                http.stream(
                    "POST", "/graphql", json={"query": FEED_STATUS}, headers=headers(INVESTOR)
                ) as sse,
            ):
                assert sse.status_code == 200
                over_sse = sse_status(sse)
                await signed_in(sock)
                frames = Frames(sock)
                await sock.subscribe("status", FEED_STATUS)
                await sock.subscribe("events", EVENTS, after=None)
                live = (await frames.next("status"))["feedStatus"]
                assert (live["state"], live["reason"]) == ("LIVE", None)
                assert live["lastBlock"] == str(number)  # BigInt: a decimal string
                assert (await anext(over_sse))["state"] == "LIVE"

                response = await w3.provider.make_request("anvil_reorg", [5, []])
                assert "error" not in response, response
                code, output = await exit_code(process)
                assert code == 1, output
                halted = (await frames.next("status"))["feedStatus"]
                assert halted["state"] == "HALTED"
                assert halted["lastBlock"] == str(number)
                assert halted["haltedAt"] is not None
                assert f"dpo listener --rewind {number - 5}" in halted["reason"]
                assert f"halted at block {number}" in halted["message"]
                assert (await anext(over_sse))["reason"] == halted["reason"]

                rewound = start(env, "--rewind", str(number - 5))
                new_number, new_hash = await head(chain.w3)
                await reach(rewound, sessions, new_number, new_hash)
                resumed = (await frames.next("status"))["feedStatus"]
                assert (resumed["state"], resumed["reason"], resumed["haltedAt"]) == (
                    "LIVE",
                    None,
                    None,
                )
                assert int(resumed["lastBlock"]) >= number - 5
                assert (await anext(over_sse))["state"] == "LIVE"
                # The events subscriber on the same socket got the rewind's removal items.
                removal = (await frames.next("events"))["events"]["node"]
                assert removal["removed"] is True
                assert removal["removesSequence"] is not None
                status = await http.post(
                    "/graphql",
                    json={"query": "{ status { dependencies { name } feed { state lastBlock } } }"},
                )
                assert status.json()["data"]["status"]["feed"] == {
                    "state": "LIVE",
                    "lastBlock": str(new_number),
                }
    finally:
        for running in (process, rewound):
            if running is not None and running.poll() is None:
                await stop(running)
