"""RpcClient.get_blocks: headers in JSON-RPC batches, against anvil through the fault proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from listener.ports import RpcError
from listener.rpc import RpcClient
from tests.support.faulty_proxy import FaultyProxy

pytestmark = pytest.mark.needs_chain

BLOCKS = 30


class Sleeps:
    """An injected sleep that records the delays asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture(scope="module")
async def expected(anvil_url: str) -> list[str]:
    """Mine BLOCKS blocks; their hashes, fetched one call each without the proxy."""
    async with httpx.AsyncClient() as http:

        async def call(method: str, params: list[Any]) -> Any:
            answer = await http.post(
                anvil_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
            )
            return answer.json()["result"]

        if int(await call("eth_blockNumber", []), 16) < BLOCKS:
            await call("anvil_mine", [hex(BLOCKS)])
        return [
            (await call("eth_getBlockByNumber", [hex(n), False]))["hash"] for n in range(BLOCKS)
        ]


@pytest.fixture
async def proxy(anvil_url: str) -> AsyncIterator[FaultyProxy]:
    async with FaultyProxy(anvil_url) as running:
        yield running


def client(urls: list[str], sleeps: Sleeps, **options: Any) -> RpcClient:
    options.setdefault("max_attempts", 6)
    return RpcClient(urls=urls, timeout=2.0, sleep=sleeps, failover_after=2, **options)


async def fetch(rpc: RpcClient, numbers: list[int]) -> list[str | None]:
    try:
        blocks = await rpc.get_blocks(numbers)
    finally:
        await rpc.aclose()
    return [None if block is None else block["hash"] for block in blocks]


async def test_headers_come_in_batches_matched_by_id(
    proxy: FaultyProxy,
    expected: list[str],
) -> None:
    rpc = client([proxy.url], Sleeps(), header_batch=8)
    numbers = [*range(BLOCKS), 5, 10_000]  # a repeat, and a block the chain does not have
    hashes = await fetch(rpc, numbers)
    assert hashes == [*expected, expected[5], None]
    assert proxy.requests_seen["batch"] == 4  # 31 distinct headers, 8 per request
    assert proxy.requests_seen["eth_getBlockByNumber"] == 0


async def test_the_setting_sizes_the_batches(
    proxy: FaultyProxy, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dpo.settings import Settings

    monkeypatch.setenv("LISTENER_HEADER_BATCH", "16")
    settings = Settings(_env_file=None, BLOCKCHAIN_RPC_URL=proxy.url)
    rpc = RpcClient.from_settings(settings)
    assert rpc.header_batch == 16
    assert await fetch(rpc, list(range(BLOCKS))) == expected
    assert proxy.requests_seen["batch"] == 2


@pytest.mark.parametrize(
    "fault",
    [
        "drop",
        "itemerror:-32000:header not found",
        "object",
        "wrongid",
        "500",
        "truncate",
        "429:0",
        "rpc:-32603:internal error",
    ],
)
async def test_a_faulty_batch_answer_is_a_failure_of_the_batch_and_is_retried(
    proxy: FaultyProxy,
    expected: list[str],
    fault: str,
) -> None:
    proxy.set_plan([fault], method="batch")
    sleeps = Sleeps()
    rpc = client([proxy.url], sleeps, header_batch=BLOCKS)
    assert await fetch(rpc, list(range(BLOCKS))) == expected
    assert proxy.faults_injected[fault.partition(":")[0]] == 1
    assert proxy.requests_seen["batch"] == 2  # the faulty answer, then the whole batch again
    assert len(sleeps.delays) == 1


async def test_a_batch_answered_badly_every_time_fails_like_a_call(
    proxy: FaultyProxy,
    expected: list[str],
) -> None:
    proxy.set_default("object")  # never an array: a broken node, not a refusal of batches
    rpc = client([proxy.url], Sleeps(), header_batch=BLOCKS, max_attempts=3)
    with pytest.raises(RpcError, match=r"after 3 attempts.*not an array") as raised:
        await fetch(rpc, list(range(BLOCKS)))
    assert raised.value.retryable
    assert proxy.requests_seen["batch"] == 3
    assert rpc.header_batch == BLOCKS  # not taken for a refusal


async def test_a_failing_batch_fails_over_to_the_other_url(
    proxy: FaultyProxy,
    anvil_url: str,
    expected: list[str],
) -> None:
    async with FaultyProxy(anvil_url) as other:
        proxy.set_default("drop")
        rpc = client([proxy.url, other.url], Sleeps(), header_batch=BLOCKS)
        assert await fetch(rpc, list(range(BLOCKS))) == expected
        assert proxy.requests_seen["batch"] == 2  # failover_after=2
        assert other.requests_seen["batch"] == 1


async def test_a_provider_limiting_batch_size_gets_smaller_batches(
    proxy: FaultyProxy,
    expected: list[str],
) -> None:
    proxy.set_default("nobatch:8")  # refuses a batch of more than 8
    sleeps = Sleeps()
    rpc = client([proxy.url], sleeps, header_batch=BLOCKS)
    assert await fetch(rpc, list(range(BLOCKS))) == expected
    assert rpc.header_batch == 7  # 30 refused, 15 refused, 7 accepted
    assert proxy.requests_seen["batch"] == 7  # 30, 15 refused; then 7, 7, 7, 7, 2
    assert sleeps.delays == []  # a refusal is not a failure to back off from


async def test_a_provider_refusing_batches_gets_single_calls(
    proxy: FaultyProxy,
    expected: list[str],
) -> None:
    proxy.set_default("nobatch")
    rpc = client([proxy.url], Sleeps(), header_batch=4)
    assert await fetch(rpc, list(range(BLOCKS))) == expected
    assert rpc.header_batch == 1
    assert 2 <= proxy.requests_seen["batch"] <= 8  # each refused (up to 4 in flight)
    assert proxy.requests_seen["eth_getBlockByNumber"] == BLOCKS


async def test_a_lagging_node_answers_a_batch_item_by_item(
    proxy: FaultyProxy,
    expected: list[str],
) -> None:
    rpc = client([proxy.url], Sleeps(), header_batch=BLOCKS)
    head = await rpc.block_number()
    proxy.set_plan(["lag:3"], method="batch")
    numbers = list(range(head - 5, head + 1))
    hashes = await fetch(rpc, numbers)
    assert [hash_ is None for hash_ in hashes] == [False, False, False, True, True, True]
    assert proxy.faults_injected["lag"] == 1
    assert proxy.requests_seen["batch"] == 1
