"""The sender under faults on a real anvil: dropped and underpriced transactions, provider
errors during sends and receipt polling, a burst of 200 orders; always one issuance each and
no hole in the nonce sequence."""

from __future__ import annotations

from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.models import ChainTransaction
from tests.integration.sender.test_sender import (
    all_final,
    assert_contiguous_nonces,
    intents,
    references,
)
from tests.integration.sender.world import (
    Clock,
    World,
    chain_nonce,
    drive,
    issued_refs,
    make_worker,
    recorded_refs,
    rpc,
    seed,
)
from tests.support.faulty_proxy import FaultyProxy


def counter(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def versions(sessions: async_sessionmaker[AsyncSession]) -> list[ChainTransaction]:
    async with sessions() as session:
        return list(await session.scalars(select(ChainTransaction).order_by(ChainTransaction.id)))


async def assert_once(sessions: async_sessionmaker[AsyncSession], world: World) -> None:
    rows = await intents(sessions)
    assert {i.state for i in rows} == {"succeeded"}
    refs = await references(sessions)
    assert issued_refs(world.url, world.issuance) == dict.fromkeys(refs, 1)
    assert recorded_refs(world.url, world.sto) == dict.fromkeys(refs, 1)
    await assert_contiguous_nonces(sessions, world)


async def test_a_transaction_dropped_from_the_pool_is_resent(
    world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed(sessions, world, 1)
    clock = Clock()
    worker = make_worker(sessions, world, world.url, clock=clock, resend_after=5, replace_after=600)
    rpc(world.url, "evm_setAutomine", False)
    await worker.run_pass()
    (sent,) = await versions(sessions)
    rpc(world.url, "anvil_dropTransaction", sent.tx_hash)
    assert rpc(world.url, "eth_getTransactionByHash", sent.tx_hash) is None
    resends = counter("dpo_sender_resends_total")

    await worker.run_pass()  # too early to look
    assert rpc(world.url, "eth_getTransactionByHash", sent.tx_hash) is None
    clock.offset += 10
    await worker.run_pass()
    assert rpc(world.url, "eth_getTransactionByHash", sent.tx_hash) is not None
    assert counter("dpo_sender_resends_total") == resends + 1

    rpc(world.url, "evm_setAutomine", True)
    rpc(world.url, "evm_mine")
    await drive(worker, all_final(sessions))
    invest = (await intents(sessions))[0]
    assert invest.tx_hash == sent.tx_hash  # the same signed bytes, mined once
    assert invest.sends == 2
    assert len([v for v in await versions(sessions) if v.intent_id == invest.id]) == 1
    await assert_once(sessions, world)


async def test_a_transaction_stuck_below_the_base_fee_is_replaced(
    world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed(sessions, world, 1)
    clock = Clock()
    worker = make_worker(
        sessions, world, world.url, clock=clock, replace_after=30, resend_after=600
    )
    rpc(world.url, "evm_setAutomine", False)
    await worker.run_pass()
    (first,) = await versions(sessions)
    rpc(world.url, "anvil_setNextBlockBaseFeePerGas", hex(first.max_fee_per_gas * 4))
    rpc(world.url, "evm_mine")
    assert rpc(world.url, "eth_getTransactionReceipt", first.tx_hash) is None  # priced out
    replacements = counter("dpo_sender_replacements_total")

    clock.offset += 60
    await worker.run_pass()
    first_again, second = await versions(sessions)
    assert first_again.tx_hash == first.tx_hash
    assert second.nonce == first.nonce
    assert second.max_fee_per_gas * 10 >= first.max_fee_per_gas * 11
    assert second.max_priority_fee_per_gas * 10 >= first.max_priority_fee_per_gas * 11
    assert second.max_fee_per_gas > first.max_fee_per_gas * 4  # enough for the new base fee
    assert counter("dpo_sender_replacements_total") == replacements + 1

    rpc(world.url, "evm_setAutomine", True)
    rpc(world.url, "evm_mine")
    await drive(worker, all_final(sessions))
    invest = (await intents(sessions))[0]
    assert invest.tx_hash == second.tx_hash
    assert invest.replacements == 1
    assert rpc(world.url, "eth_getTransactionReceipt", first.tx_hash) is None
    await assert_once(sessions, world)


async def test_two_hundred_paid_orders_at_once_are_all_issued_exactly_once(
    world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed(sessions, world, 200, units=1)
    worker = make_worker(sessions, world, world.url, max_in_flight=256)
    await drive(worker, all_final(sessions), passes=2000)
    rows = await intents(sessions)
    assert len(rows) == 400
    assert {i.sends for i in rows} == {1}
    assert len(issued_refs(world.url, world.issuance)) == 200
    await assert_once(sessions, world)


async def test_provider_faults_during_sends_and_receipt_polling(
    world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed(sessions, world, 20)
    async with FaultyProxy(world.url, hang_seconds=5) as proxy:
        # The send reaches the node but the answer is lost (500 / never comes): the retry
        # sends the same bytes, which the node already has or already mined.
        proxy.set_plan(
            ["lost", "swallow", "lost:502", "500", "timeout"], method="eth_sendRawTransaction"
        )
        proxy.set_plan(["500", "timeout", "503", "lost"], method="eth_getTransactionReceipt")
        proxy.set_rates({"500": 0.1, "timeout": 0.02, "lost": 0.05}, seed=11)
        worker = make_worker(sessions, world, proxy.url, timeout=1.0)
        await drive(worker, all_final(sessions), passes=2000)
        assert proxy.faults_injected["lost"] >= 2
        assert proxy.faults_injected["swallow"] == 1
        assert proxy.faults_injected["timeout"] >= 2
        assert proxy.faults_injected["500"] >= 2
    await assert_once(sessions, world)


async def test_a_nonce_used_by_another_transaction_of_our_key_is_given_up_and_resent(
    world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    from eth_account import Account

    from tests.integration.sender.world import SENDER, SENDER_KEY

    await seed(sessions, world, 1)
    clock = Clock()
    worker = make_worker(
        sessions,
        world,
        world.url,
        clock=clock,
        nonce_taken_after=5,
        replace_after=600,
        resend_after=600,
    )
    rpc(world.url, "evm_setAutomine", False)
    await worker.run_pass()
    (ours,) = await versions(sessions)
    # Someone else signs with the platform's key at the same nonce and outbids us.
    rpc(world.url, "anvil_dropTransaction", ours.tx_hash)
    foreign = Account.from_key(SENDER_KEY).sign_transaction(
        {
            "type": 2,
            "chainId": 31337,
            "nonce": ours.nonce,
            "to": SENDER,
            "value": 0,
            "gas": 21000,
            "maxFeePerGas": ours.max_fee_per_gas * 2,
            "maxPriorityFeePerGas": ours.max_priority_fee_per_gas * 2,
        }
    )
    rpc(world.url, "eth_sendRawTransaction", foreign.raw_transaction.to_0x_hex())
    rpc(world.url, "evm_mine")
    rpc(world.url, "evm_setAutomine", True)

    await worker.run_pass()  # the nonce is used, no receipt of ours yet: wait
    invest = (await intents(sessions))[0]
    assert invest.state == "in_flight"
    clock.offset += 10
    await drive(worker, all_final(sessions))

    rows = await intents(sessions)
    assert rows[0].nonce != ours.nonce
    assert rows[0].last_error == f"nonce {ours.nonce} used by another transaction"
    # The foreign transaction holds the old nonce; ours follow it with no hole.
    assert sorted(int(i.nonce or 0) for i in rows) == [ours.nonce + 1, ours.nonce + 2]
    assert chain_nonce(world.url) == chain_nonce(world.url, "pending") == ours.nonce + 3
    refs = await references(sessions)
    assert issued_refs(world.url, world.issuance) == dict.fromkeys(refs, 1)
    assert recorded_refs(world.url, world.sto) == dict.fromkeys(refs, 1)
    assert {i.state for i in rows} == {"succeeded"}
