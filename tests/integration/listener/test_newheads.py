"""newHeads over anvil's WebSocket endpoint (served on its HTTP port)."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest
from web3 import AsyncHTTPProvider, AsyncWeb3

from dpo.embedded.process import free_port
from listener.newheads import NewHeads, subscribe_new_heads
from listener.ports import RpcError

pytestmark = pytest.mark.needs_chain

TOKEN = "5ecre7w5t0ken0123456789abcdef"


def ws_url(anvil_url: str) -> str:
    """anvil's WebSocket URL."""
    return anvil_url.replace("http://", "ws://", 1)


async def test_heads_arrive_in_order(anvil_url: str, w3: AsyncWeb3[AsyncHTTPProvider]) -> None:
    start = int(await w3.eth.block_number)
    async with NewHeads(ws_url(anvil_url), timeout=5) as heads:
        for _ in range(3):
            await w3.provider.make_request("evm_mine", [])
        seen: list[int] = []
        async with asyncio.timeout(10):
            async for number in heads:
                seen.append(number)
                if len(seen) == 3:
                    break
    assert seen == [start + 1, start + 2, start + 3]


async def test_subscribe_new_heads_generator(
    anvil_url: str,
    w3: AsyncWeb3[AsyncHTTPProvider],
) -> None:
    start = int(await w3.eth.block_number)

    async def first() -> int:
        async with aclosing(subscribe_new_heads(ws_url(anvil_url), open_timeout=5)) as heads:
            async for number in heads:
                return number
        raise AssertionError("no head")

    task = asyncio.create_task(first())
    # Mine until the subscription (set up concurrently) has seen a block.
    async with asyncio.timeout(10):
        while not task.done():
            await w3.provider.make_request("evm_mine", [])
            await asyncio.sleep(0.05)
    assert task.result() > start


async def test_unreachable_endpoint_is_retryable_and_keeps_the_token_secret() -> None:
    url = f"wss://127.0.0.1:{free_port()}/{TOKEN}/"
    with pytest.raises(RpcError) as caught:
        async with NewHeads(url, timeout=2):
            pass
    assert caught.value.retryable is True
    assert TOKEN not in str(caught.value)
    assert "127.0.0.1" in str(caught.value)


def test_http_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="ws://"):
        NewHeads("http://127.0.0.1:8545")
