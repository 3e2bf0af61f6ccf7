"""A dense stretch larger than the budget of logs in flight, on a real anvil and PostgreSQL.

Blocks denser than a range's share of LISTENER_MAX_LOGS_IN_FLIGHT, with the listener's
starting range of 2,000 blocks: the client refuses answers of several blocks past its byte
cap, ranges end at their share, and still every event is stored exactly once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from web3 import AsyncWeb3

from dpo.chain.artifacts import CONTRACT_ARTIFACTS
from listener.decode import Decoder
from listener.follower import Follower, FollowerConfig
from listener.rpc import ANSWER_BYTES_PER_LOG, RpcClient
from listener.rpc_answer import AnswerTooLargeError
from listener.store import PgStore
from tests.integration.chain.test_contracts import Chain, ref
from tests.integration.listener.test_follower import (
    ANVIL_CHAIN_ID,
    Running,
    Sessions,
    chain,
    databases,
    feed,
    head,
    live_events,
    with_offering,
)
from tests.support.faulty_proxy import FaultyProxy
from tests.support.recording_store import Recording

pytestmark = pytest.mark.needs_chain

__all__ = ["chain", "databases"]

BUDGET = 100  # logs in flight; a range's share is 25
PER_BLOCK = 60  # issue transactions a block: 120 events, denser than a share


class RecordingClient(RpcClient):
    """The real client, noting each eth_getLogs range and what became of it."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.answers: list[tuple[int, int, int | None]] = []  # first, last, logs (None: refused)

    async def get_logs(
        self, from_block: int, to_block: int, addresses: Sequence[str]
    ) -> list[dict[str, Any]]:
        try:
            logs = await super().get_logs(from_block, to_block, addresses)
        except AnswerTooLargeError:
            self.answers.append((from_block, to_block, None))
            raise
        self.answers.append((from_block, to_block, len(logs)))
        return logs


class RecordingStore(Recording, PgStore):
    """The real store, noting the events of each committed batch."""


async def dense_blocks(chain: Chain, blocks: int) -> None:
    """`blocks` blocks of PER_BLOCK issues each (Transfer and Issued: two events each)."""
    holder = await chain.investor()
    provider = chain.w3.provider
    await provider.make_request("evm_setAutomine", [False])
    try:
        for _ in range(blocks):
            sent = [
                await chain.token.functions.issue(holder, 1, 0, ref()).transact(
                    {"from": chain.admin, "gas": 300_000}
                )
                for _ in range(PER_BLOCK)
            ]
            await provider.make_request("evm_mine", [])
            for tx_hash in sent:
                receipt = await chain.w3.eth.wait_for_transaction_receipt(tx_hash)
                assert receipt["status"] == 1
    finally:
        await provider.make_request("evm_setAutomine", [True])


async def test_a_dense_stretch_past_the_budget_is_stored_exactly_once_and_completely(
    anvil_url: str,
    deployed: dict[str, str],
    chain: Chain,
    databases: Callable[[], Awaitable[Sessions]],
) -> None:
    await dense_blocks(chain, 4)
    number, hash_ = await head(chain.w3)
    addresses = [AsyncWeb3.to_checksum_address(a) for a in chain.by_address]
    raw = await chain.w3.eth.get_logs({"fromBlock": 0, "toBlock": number, "address": addresses})
    expected = sorted(
        (log["blockNumber"], log["transactionHash"].to_0x_hex(), log["logIndex"]) for log in raw
    )
    assert len(expected) >= 4 * 2 * PER_BLOCK
    sessions = await with_offering(await databases(), deployed)
    share = BUDGET // 4
    rpc = RecordingClient(urls=[anvil_url], timeout=30, max_log_bytes=share * ANSWER_BYTES_PER_LOG)
    store = RecordingStore(sessions)
    config = FollowerConfig(chain_id=ANVIL_CHAIN_ID, reorg_window=16, max_logs_in_flight=BUDGET)
    assert (config.batch_blocks, config.concurrency) == (2_000, 4)  # the defaults
    decoder = Decoder(
        ANVIL_CHAIN_ID, {deployed[var]: name for var, name in CONTRACT_ARTIFACTS.items()}
    )
    running = Running(Follower(rpc=rpc, store=store, decoder=decoder, config=config))
    try:
        await running.reach(number, hash_=hash_)
    finally:
        await running.finish()
        await rpc.aclose()

    events = await live_events(sessions)
    assert sorted((e[0], e[2], e[3]) for e in events) == expected  # each once, none missing
    assert [item[0] for item in await feed(sessions)] == list(range(1, len(expected) + 1))
    # The first range (2,000 blocks, the density unknown) was refused and split ...
    assert rpc.answers[0][2] is None
    # ... every answer taken in holds one block, or fits the cap ...
    taken = [(first, last, logs) for first, last, logs in rpc.answers if logs is not None]
    assert all(first == last or logs <= 2 * PER_BLOCK for first, last, logs in taken)
    # ... and no committed batch held more than half the budget and one dense block.
    assert max(store.batches) <= BUDGET // 2 + 2 * PER_BLOCK
    assert sum(store.batches) == len(expected)


async def test_the_client_splits_a_range_past_its_cap_or_its_timeout_and_takes_a_block_whole(
    anvil_url: str, chain: Chain
) -> None:
    await dense_blocks(chain, 2)
    number, _ = await head(chain.w3)
    addresses = [AsyncWeb3.to_checksum_address(a) for a in chain.by_address]
    rpc = RpcClient(urls=[anvil_url], timeout=30, max_log_bytes=20_000)
    try:
        with pytest.raises(AnswerTooLargeError) as caught:
            await rpc.get_logs(number - 1, number, addresses)
        assert (caught.value.size or 0) > 20_000  # refused by its Content-Length
        assert caught.value.suggested == (number - 1, number - 1)  # the share that fits
        assert len(await rpc.get_logs(number, number, addresses)) == 2 * PER_BLOCK
    finally:
        await rpc.aclose()
    async with FaultyProxy(anvil_url) as proxy:
        rpc = RpcClient(urls=[proxy.url], timeout=0.5, max_log_bytes=20_000)
        try:
            proxy.set_plan(["timeout"], method="eth_getLogs")
            with pytest.raises(AnswerTooLargeError) as slow:  # not retried: split
                await rpc.get_logs(number - 3, number, addresses)
            assert slow.value.suggested == (number - 3, number - 2)
            proxy.set_plan(["timeout"], method="eth_getLogs")  # one block: retried as before
            assert len(await rpc.get_logs(number, number, addresses)) == 2 * PER_BLOCK
        finally:
            await rpc.aclose()
