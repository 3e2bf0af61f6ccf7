"""The sender's JSON-RPC client against anvil behind the fault proxy: batches, refusals,
retries, and no provider token in any message."""

from __future__ import annotations

import pytest

from dpo.sender.rpc import Rpc, RpcCallError, RpcUnavailableError
from tests.integration.sender.world import SENDER
from tests.support.faulty_proxy import FaultyProxy

TOKEN = "tok-" + "77ab" * 8


async def test_a_batch_answers_each_call_or_its_error(anvil: str) -> None:
    rpc = Rpc([anvil], timeout=10)
    try:
        chain_id, count, bad = await rpc.batch(
            [
                ("eth_chainId", []),
                ("eth_getTransactionCount", [SENDER, "latest"]),
                ("eth_call", [{"to": SENDER, "data": "0x"}, "no-such-block"]),
            ]
        )
    finally:
        await rpc.aclose()
    assert chain_id == "0x7a69"
    assert count == "0x0"
    assert isinstance(bad, RpcCallError)


async def test_refused_batches_fall_back_to_single_calls(anvil: str) -> None:
    async with FaultyProxy(anvil) as proxy:
        proxy.set_plan(["rpc:-32600:batch requests are not supported"], method="batch")
        rpc = Rpc([proxy.url], timeout=10)
        try:
            answers = await rpc.batch([("eth_chainId", []), ("eth_blockNumber", [])])
        finally:
            await rpc.aclose()
        assert proxy.requests_seen["eth_chainId"] == 1
    assert answers[0] == "0x7a69"


async def test_failed_batches_are_retried_whole(anvil: str) -> None:
    async with FaultyProxy(anvil) as proxy:
        proxy.set_plan(["500", "truncate", "wrongid"], method="batch")
        rpc = Rpc([proxy.url], timeout=10, attempts=4, backoff=0.01)
        try:
            answers = await rpc.batch([("eth_chainId", [])] * 3)
        finally:
            await rpc.aclose()
        assert proxy.requests_seen["batch"] == 4
    assert answers == ["0x7a69"] * 3


async def test_a_provider_token_never_appears_in_errors(anvil: str) -> None:
    async with FaultyProxy(anvil) as proxy:
        proxy.set_default("500")
        rpc = Rpc([f"{proxy.url}{TOKEN}/"], timeout=2, attempts=2, backoff=0.01)
        try:
            with pytest.raises(RpcUnavailableError) as failure:
                await rpc.call("eth_chainId", [])
        finally:
            await rpc.aclose()
    assert TOKEN not in str(failure.value)
    assert "http://127.0.0.1" in str(failure.value)
