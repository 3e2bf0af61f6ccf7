"""RpcClient against a real anvil, through the fault-injecting proxy."""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from web3 import AsyncHTTPProvider, AsyncWeb3

from dpo.chain.artifacts import load_artifact
from dpo.embedded.process import free_port
from dpo.settings import Settings
from listener.ports import RangeTooLargeError, RpcError
from listener.rpc import ChainMismatchError, LogRangeError, RpcClient, verify_chain
from tests.integration.chain.conftest import ANVIL_ADDRESS
from tests.support.faulty_proxy import FaultyProxy

pytestmark = pytest.mark.needs_chain

TOKEN = "f00dfacecafe0123456789abcdef4242"
OTHER_TOKEN = "0ddba11deadbeef9876543210fedcba9"


class Sleeps:
    """An injected sleep that records the delays asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class Clock:
    """A monotonic clock the test moves forward by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def proxy(anvil_url: str) -> AsyncIterator[FaultyProxy]:
    """A fault-injecting proxy in front of the module's anvil."""
    async with FaultyProxy(anvil_url) as running:
        yield running


def client(urls: list[str], sleeps: Sleeps, **options: Any) -> RpcClient:
    """A client with a seeded jitter and a recording sleep."""
    options.setdefault("timeout", 0.5)
    options.setdefault("max_attempts", 6)
    return RpcClient(urls=urls, rng=random.Random(3), sleep=sleeps, **options)


def errors(kind: str) -> float:
    """The current value of the RPC error counter for one kind."""
    return REGISTRY.get_sample_value("dpo_listener_rpc_errors_total", {"kind": kind}) or 0.0


async def anvil_head(anvil_url: str) -> int:
    """The head straight from anvil, without the proxy."""
    provider = AsyncHTTPProvider(anvil_url)
    try:
        return int(await AsyncWeb3(provider).eth.block_number)
    finally:
        await provider.disconnect()


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("500", "http_5xx"),
        ("502", "http_5xx"),
        ("503", "http_5xx"),
        ("404", "http_4xx"),
        ("429", "rate_limited"),
        ("timeout", "timeout"),
        ("reset", "transport"),
        ("truncate", "bad_body"),
        ("cut", "transport"),
        ("rpc:-32000:header not found", "rpc_error"),
        ("rpc:-32603:internal error", "rpc_error"),
        ("rpc:-32000:missing trie node 0xabc", "rpc_error"),
        ("rpc:-32602:BlockOutOfRangeError: block height is 6 but requested was 7", "rpc_error"),
        ("rpc:-32005:limit exceeded", "rate_limited"),
        ("null", "bad_body"),
        ("wrongid", "bad_body"),
    ],
)
async def test_every_fault_kind_is_retried_and_the_call_succeeds(
    proxy: FaultyProxy,
    anvil_url: str,
    fault: str,
    kind: str,
) -> None:
    sleeps = Sleeps()
    rpc = client([proxy.url + TOKEN], sleeps)
    before = errors(kind)
    proxy.set_plan([fault, fault])
    try:
        assert await rpc.block_number() == await anvil_head(anvil_url)
        assert await rpc.chain_id() == 31337
    finally:
        await rpc.aclose()
    assert proxy.faults_injected[fault.split(":")[0]] == 2
    assert proxy.requests_seen["eth_blockNumber"] == 3
    assert errors(kind) == before + 2
    assert len(sleeps.delays) == 2


async def test_429_waits_for_retry_after(proxy: FaultyProxy) -> None:
    sleeps = Sleeps()
    rpc = client([proxy.url], sleeps, retry_after_cap=20.0)
    proxy.set_plan(["429:3", "429:600", "429:date:8", "429"])
    pressure = rpc.pressure
    try:
        assert await rpc.chain_id() == 31337
    finally:
        await rpc.aclose()
    assert sleeps.delays[:2] == [3.0, 20.0]
    # An HTTP date has whole seconds: 8 s ahead is 7 to 8 s from when the client reads it.
    assert 6.0 <= sleeps.delays[2] <= 8.0
    # Without Retry-After the jittered backoff applies: attempt 3 of base 0.25 is at most 2 s.
    assert 0.0 <= sleeps.delays[3] <= 2.0
    assert rpc.pressure == pressure + 4


async def test_backoff_is_capped_exponential(proxy: FaultyProxy) -> None:
    sleeps = Sleeps()
    rpc = client([proxy.url], sleeps, max_attempts=8, backoff_base=0.5, backoff_cap=2.0)
    proxy.set_plan(["500"] * 7)
    try:
        assert await rpc.chain_id() == 31337
    finally:
        await rpc.aclose()
    assert len(sleeps.delays) == 7
    for attempt, delay in enumerate(sleeps.delays):
        assert 0.0 <= delay <= min(2.0, 0.5 * 2**attempt)


async def test_failover_to_the_next_url_and_back_after_cool_down(
    proxy: FaultyProxy,
    anvil_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    dead = free_port()
    primary = f"http://127.0.0.1:{dead}/{TOKEN}/"
    sleeps, clock = Sleeps(), Clock()
    rpc = client(
        [primary, proxy.url + OTHER_TOKEN], sleeps, failover_after=2, cooldown=30.0, clock=clock
    )
    try:
        assert await rpc.chain_id() == 31337
        assert len(sleeps.delays) == 2  # two failures on the dead primary, then the switch
        assert rpc.active_endpoint == f"http://127.0.0.1:{proxy.port}"
        async with FaultyProxy(anvil_url, port=dead) as revived:
            clock.now += 29.0
            assert await rpc.block_number() >= 0
            assert revived.requests_seen.total() == 0  # still cooling down
            clock.now += 2.0
            assert await rpc.block_number() >= 0
            assert revived.requests_seen["eth_blockNumber"] == 1
            assert rpc.active_endpoint == f"http://127.0.0.1:{dead}"
        assert proxy.requests_seen.total() == 2
    finally:
        await rpc.aclose()
    assert "failover" in caplog.text
    assert TOKEN not in caplog.text
    assert OTHER_TOKEN not in caplog.text


async def test_all_endpoints_down_is_a_retryable_error_without_secrets(
    proxy: FaultyProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy.set_default("503")
    urls = [
        f"http://user:pa55word@127.0.0.1:{free_port()}/{TOKEN}/?apikey=abcdef123",
        f"{proxy.url}{OTHER_TOKEN}",
    ]
    sleeps = Sleeps()
    rpc = client(urls, sleeps, max_attempts=5)
    try:
        with pytest.raises(RpcError) as caught:
            await rpc.get_logs(1, 2, [ANVIL_ADDRESS])
    finally:
        await rpc.aclose()
    error = caught.value
    assert error.retryable is True
    assert not isinstance(error, RangeTooLargeError)
    message = str(error)
    assert "eth_getLogs failed after 5 attempts" in message
    assert f"http://127.0.0.1:{proxy.port}" in message
    for secret in (TOKEN, OTHER_TOKEN, "pa55word", "abcdef123", "user:"):
        assert secret not in message
        assert secret not in caplog.text
    assert len(sleeps.delays) == 4
    assert proxy.faults_injected["503"] >= 2


@pytest.mark.parametrize(
    ("method", "params", "code"),
    [
        ("eth_getBlockByNumber", ["nothex", False], -32602),
        ("eth_noSuchMethod", [], -32601),
    ],
)
async def test_non_retryable_errors_fail_at_once(
    proxy: FaultyProxy,
    method: str,
    params: list[Any],
    code: int,
) -> None:
    sleeps = Sleeps()
    rpc = client([proxy.url], sleeps)
    before = errors("rpc_error")
    try:
        with pytest.raises(RpcError) as caught:
            await rpc.call(method, params)
    finally:
        await rpc.aclose()
    assert caught.value.retryable is False
    assert caught.value.code == code
    assert proxy.requests_seen[method] == 1
    assert sleeps.delays == []
    assert errors("rpc_error") == before + 1


async def test_range_refusal_raises_with_the_providers_hint(proxy: FaultyProxy) -> None:
    sleeps = Sleeps()
    rpc = client([proxy.url], sleeps)
    proxy.set_plan(["rpc:-32614:eth_getLogs is limited to a 10,000 range"], method="eth_getLogs")
    try:
        with pytest.raises(LogRangeError) as caught:
            await rpc.get_logs(0, 50_000, [ANVIL_ADDRESS])
        assert caught.value.max_range == 10_000
        assert caught.value.suggested is None
        proxy.set_plan(
            [
                "rpc:-32005:query returned more than 10000 results. "
                "Try with this block range [0x1, 0x5]."
            ],
            method="eth_getLogs",
        )
        with pytest.raises(RangeTooLargeError) as hinted:
            await rpc.get_logs(0, 50_000, [ANVIL_ADDRESS])
        assert hinted.value.suggested == (1, 5)
        assert hinted.value.retryable is False
    finally:
        await rpc.aclose()
    assert proxy.requests_seen["eth_getLogs"] == 2
    assert sleeps.delays == []


async def test_get_logs_returns_an_emitted_event_despite_faults(
    proxy: FaultyProxy,
    w3: AsyncWeb3[AsyncHTTPProvider],
    deployed: dict[str, str],
) -> None:
    token = w3.eth.contract(
        address=AsyncWeb3.to_checksum_address(deployed["ISSUANCE_CONTRACT_ADDRESS"]),
        abi=load_artifact("Issuance").abi,
    )
    investor = AsyncWeb3.to_checksum_address(os.urandom(20))
    tx_hash = await token.functions.verifyInvestor(investor).transact({"from": ANVIL_ADDRESS})
    receipt = await w3.eth.wait_for_transaction_receipt(tx_hash)
    block = int(receipt["blockNumber"])
    sleeps = Sleeps()
    rpc = client([proxy.url], sleeps)
    proxy.set_plan(["truncate", "500", "cut"], method="eth_getLogs")
    try:
        logs = await rpc.get_logs(block, block, list(deployed.values()))
        assert await rpc.get_logs(block, block, [ANVIL_ADDRESS]) == []
        before = await rpc.get_logs(0, block - 1, [deployed["ISSUANCE_CONTRACT_ADDRESS"]])
    finally:
        await rpc.aclose()
    assert len(logs) == 1
    log = logs[0]
    assert log["transactionHash"] == "0x" + bytes(tx_hash).hex()
    assert int(log["blockNumber"], 16) == block
    assert log["address"].lower() == deployed["ISSUANCE_CONTRACT_ADDRESS"].lower()
    assert log["topics"][0] == "0x" + AsyncWeb3.keccak(
        text="InvestorVerified(address,address)"
    ).hex().removeprefix("0x")
    assert all(entry["transactionHash"] != log["transactionHash"] for entry in before)
    assert proxy.faults_injected["truncate"] == 1
    assert proxy.faults_injected["cut"] == 1


async def test_get_block_normalises_number_and_timestamp(proxy: FaultyProxy) -> None:
    rpc = client([proxy.url], Sleeps())
    try:
        head = await rpc.block_number()
        latest = await rpc.get_block("latest")
        by_number = await rpc.get_block(head)
        for tag in ("finalized", "safe"):
            assert await rpc.get_block(tag) is not None
        assert await rpc.get_block(head + 10_000) is None
    finally:
        await rpc.aclose()
    assert latest is not None
    assert by_number is not None
    assert latest["number"] == head == by_number["number"]
    assert isinstance(latest["timestamp"], int)
    assert latest["hash"] == by_number["hash"]
    assert latest["hash"].startswith("0x")
    assert len(latest["hash"]) == 66
    assert latest["parentHash"].startswith("0x")


async def test_verify_chain(proxy: FaultyProxy) -> None:
    rpc = client([proxy.url], Sleeps())
    try:
        await verify_chain(rpc, 31337)
        with pytest.raises(ChainMismatchError) as caught:
            await verify_chain(rpc, 42170)
    finally:
        await rpc.aclose()
    message = str(caught.value)
    assert "arbitrum-nova (chain id 42170)" in message
    assert "reports chain id 31337" in message
    assert "refuses to run" in message
    assert caught.value.retryable is False


async def test_from_settings_uses_both_urls_in_order(
    anvil_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dead = free_port()
    monkeypatch.setenv("QUICKNODE_URL", f"https://127.0.0.1:{dead}/{TOKEN}/")
    monkeypatch.setenv("BLOCKCHAIN_RPC_URL", anvil_url.replace("http://", "ws://"))
    monkeypatch.setenv("RPC_TIMEOUT", "2")
    settings = Settings(_env_file=None)
    rpc = RpcClient.from_settings(settings, sleep=Sleeps(), failover_after=1)
    try:
        assert rpc.endpoints == [f"https://127.0.0.1:{dead}", anvil_url.rstrip("/")]
        assert await rpc.chain_id() == 31337
    finally:
        await rpc.aclose()


async def test_concurrent_calls_under_random_faults_all_return_the_right_answer(
    proxy: FaultyProxy,
    w3: AsyncWeb3[AsyncHTTPProvider],
    deployed: dict[str, str],
) -> None:
    head = int(await w3.eth.block_number)
    addresses = list(deployed.values())
    expected = [await w3.eth.get_block(n) for n in range(head + 1)]
    proxy.set_rates(
        {
            "500": 0.1,
            "429": 0.1,
            "timeout": 0.03,
            "truncate": 0.1,
            "cut": 0.05,
            "rpc:-32000:header not found": 0.05,
        },
        seed=11,
    )
    rpc = client([proxy.url], Sleeps(), max_attempts=20)
    try:
        blocks = await asyncio.gather(*(rpc.get_block(n) for n in range(head + 1)))
        logs = await asyncio.gather(*(rpc.get_logs(n, n, addresses) for n in range(head + 1)))
    finally:
        await rpc.aclose()
    assert [block["hash"] if block else None for block in blocks] == [
        "0x" + bytes(block["hash"]).hex() for block in expected
    ]
    assert sum(len(entries) for entries in logs) > 0
    assert all(
        int(log["blockNumber"], 16) == n for n, entries in enumerate(logs) for log in entries
    )
    assert sum(proxy.faults_injected.values()) > 0
