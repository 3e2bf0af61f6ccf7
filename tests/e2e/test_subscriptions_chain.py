"""An event emitted on anvil, ingested by `dpo listener`, reaches a WebSocket subscriber."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from web3 import AsyncHTTPProvider, AsyncWeb3

from tests.e2e.conftest import web_server
from tests.e2e.test_listener_process import chain, databases, listener_env, start, stop
from tests.e2e.test_subscriptions import server_env, signed_in
from tests.e2e.test_subscriptions_slow import metric, metrics_when
from tests.integration.chain.conftest import deployed, w3
from tests.integration.chain.test_contracts import Chain, ref
from tests.integration.listener.test_follower import Sessions, with_offering
from tests.integration.streaming.wsclient import EVENTS, open_socket

pytestmark = pytest.mark.needs_chain

__all__ = ["chain", "databases", "deployed", "w3"]


async def test_an_event_emitted_on_anvil_reaches_a_subscriber(
    anvil_url: str,
    redis_url: str,
    deployed: dict[str, str],
    chain: Chain,
    w3: AsyncWeb3[AsyncHTTPProvider],
    databases: Callable[[], Awaitable[tuple[str, Sessions]]],
) -> None:
    url, sessions = await databases()
    await with_offering(sessions, deployed)
    listener = start(listener_env(url, redis_url, anvil_url, deployed))
    try:
        with web_server(server_env(url, redis_url)) as base:
            async with open_socket(base) as sock:
                await signed_in(sock)
                await sock.subscribe("1", EVENTS, filter={"eventName": "Issued"})
                # A subscription from now on starts at the feed's head when the server takes
                # it: emit only once it has, or a busy server can take it after the listener
                # stored the event, and the frame never comes.
                await metrics_when(base, lambda text: metric(text, "dpo_feed_subscriptions") == 1)
                holder = await chain.investor()
                await chain.send(chain.token.functions.issue(holder, 5, 0, ref()))
                frame = await sock.data("1")
    finally:
        code, output = await stop(listener)
    assert code == 0, output
    node = frame["events"]["node"]
    assert node["eventName"] == "Issued"
    assert node["contractName"] == "Issuance"
    assert holder.lower() in {str(value).lower() for value in node["args"].values()}
    assert node["removed"] is False
