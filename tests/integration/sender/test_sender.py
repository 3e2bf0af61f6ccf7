"""The sender on a real anvil and PostgreSQL: issues once, checks the chain before sending,
records reverts with their reason and never retries them on its own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.models import ChainIntent, ChainTransaction, Investment
from tests.integration.sender.world import (
    World,
    chain_nonce,
    drive,
    issued_refs,
    make_worker,
    recorded_refs,
    seed,
)


async def intents(sessions: async_sessionmaker[AsyncSession]) -> list[ChainIntent]:
    async with sessions() as session:
        return list(await session.scalars(select(ChainIntent).order_by(ChainIntent.id)))


def all_final(sessions: async_sessionmaker[AsyncSession]) -> Any:
    async def check() -> bool:
        return all(
            i.state not in ("pending", "in_flight", "mined") for i in await intents(sessions)
        )

    return check


async def references(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        return [
            str(r)
            for r in await session.scalars(
                select(Investment.onchain_reference).order_by(Investment.id)
            )
        ]


async def assert_contiguous_nonces(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    """Every nonce we hold is distinct, the sequence has no hole, and the chain agrees."""
    nonces = sorted(i.nonce for i in await intents(sessions) if i.nonce is not None)
    assert nonces == list(range(nonces[0], nonces[0] + len(nonces)))
    assert chain_nonce(world.url) == nonces[-1] + 1
    assert chain_nonce(world.url, "pending") == chain_nonce(world.url)


async def test_paid_orders_are_recorded_then_issued_once(
    world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed(sessions, world, 3)
    worker = make_worker(sessions, world, world.url)
    await drive(worker, all_final(sessions))

    rows = await intents(sessions)
    expected = [("invest", "succeeded"), ("issue", "succeeded")] * 3
    assert [(i.kind, i.state) for i in rows] == expected
    refs = await references(sessions)
    assert issued_refs(world.url, world.issuance) == dict.fromkeys(refs, 1)
    assert recorded_refs(world.url, world.sto) == dict.fromkeys(refs, 1)
    assert all(i.tx_hash and i.block_number and i.sends == 1 for i in rows)
    assert rows[1].call["function"] == "issue"
    assert rows[1].call["args"]["investmentRef"] == refs[0]
    await assert_contiguous_nonces(sessions, world)


async def test_a_replayed_intent_is_settled_by_the_chain_check_without_sending(
    world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed(sessions, world, 2)
    worker = make_worker(sessions, world, world.url)
    await drive(worker, all_final(sessions))
    sent = chain_nonce(world.url)
    # A restored backup, a replayed job: the intents say pending again, without nonces.
    async with sessions() as session, session.begin():
        await session.execute(
            update(ChainIntent).values(
                state="pending", nonce=None, chain_id=None, sender_address=None, tx_hash=None
            )
        )
    await drive(worker, all_final(sessions))

    assert chain_nonce(world.url) == sent
    rows = await intents(sessions)
    assert {i.state for i in rows} == {"succeeded"}
    assert {i.last_error for i in rows} == {"already recorded on chain", "already issued on chain"}
    refs = await references(sessions)
    assert issued_refs(world.url, world.issuance) == dict.fromkeys(refs, 1)


async def test_a_revert_is_recorded_with_its_reason_and_not_retried(
    world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    unverified = "0x" + "5a" * 20
    await seed(sessions, world, 1, wallet=unverified)
    worker = make_worker(sessions, world, world.url)
    before = chain_nonce(world.url)
    await drive(worker, all_final(sessions))
    for _ in range(5):
        await worker.run_pass()

    invest, issue = await intents(sessions)
    assert invest.state == "reverted"
    assert invest.revert_reason is not None
    assert invest.revert_reason.startswith("InvestorNotVerified(investor=")
    assert invest.call["function"] == "invest"
    assert issue.state == "failed"
    assert issue.last_error == "the intent it depends on ended reverted"
    assert chain_nonce(world.url) == before  # refused at estimation: nothing sent, no nonce
    async with sessions() as session:
        assert list(await session.scalars(select(ChainTransaction))) == []


async def test_a_revert_on_chain_is_recorded_from_its_receipt(
    world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    from tests.integration.sender.world import rpc

    await seed(sessions, world, 2)
    worker = make_worker(sessions, world, world.url)
    rpc(world.url, "evm_setAutomine", False)
    await worker.run_pass()  # both invests signed and sent, not mined
    # The offering closes before they are mined: both revert on chain.
    from web3 import Web3

    from dpo.chain.artifacts import load_artifact
    from tests.integration.sender.world import OWNER

    sto = Web3().eth.contract(abi=load_artifact("STO").abi)
    rpc(
        world.url,
        "eth_sendTransaction",
        {
            "from": OWNER,
            "to": world.sto,
            "data": sto.encode_abi("cancelOffering", [1]),
            "gasPrice": hex(10**12),
            "gas": hex(200_000),
        },
    )
    rpc(world.url, "evm_setAutomine", True)
    rpc(world.url, "evm_mine")
    await drive(worker, all_final(sessions))

    rows = await intents(sessions)
    invests = [i for i in rows if i.kind == "invest"]
    assert {i.state for i in invests} == {"reverted"}
    assert all(str(i.revert_reason).startswith("OfferingNotOpen(") for i in invests)
    assert all(i.tx_hash is not None for i in invests)
    assert {i.state for i in rows if i.kind == "issue"} == {"failed"}
    assert issued_refs(world.url, world.issuance) == {}


async def test_a_refund_is_recorded_on_chain_once_where_the_order_was(
    world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    from dpo.sender.intents import enqueue_refund
    from tests.integration.sender.world import rpc

    (recorded,) = await seed(sessions, world, 1)
    worker = make_worker(sessions, world, world.url)
    rpc(world.url, "evm_setAutomine", False)
    await worker.run_pass()  # its invest signed and sent, not mined yet
    (unsent,) = await seed(sessions, world, 1)  # paid, its intents not signed yet
    async with sessions() as session, session.begin():
        for investment_id in (recorded, unsent):
            investment = await session.get(Investment, investment_id)
            assert investment is not None
            await enqueue_refund(session, investment)
            await enqueue_refund(session, investment)  # a repeated refund webhook
    rpc(world.url, "evm_setAutomine", True)
    rpc(world.url, "evm_mine")
    await drive(worker, all_final(sessions))

    states = {(i.investment_id, i.kind): i.state for i in await intents(sessions)}
    assert states == {
        (recorded, "invest"): "succeeded",
        (recorded, "issue"): "cancelled",
        (recorded, "refund"): "succeeded",
        (unsent, "invest"): "cancelled",
        (unsent, "issue"): "cancelled",
    }
    refs = await references(sessions)
    topic = "0x" + __import__("web3").Web3.keccak(
        text="InvestmentRefunded(uint256,address,uint256,uint256,bytes32)"
    ).hex().removeprefix("0x")
    logs = rpc(
        world.url,
        "eth_getLogs",
        {"fromBlock": "0x0", "toBlock": "latest", "address": world.sto, "topics": [topic]},
    )
    assert ["0x" + log["data"][-64:] for log in logs] == [refs[0]]
    assert issued_refs(world.url, world.issuance) == {}
    await assert_contiguous_nonces(sessions, world)
