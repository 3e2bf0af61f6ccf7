"""Reorgs on a real anvil: a receipt is not the end. A reorg that takes the block of a mined
intent sends it back to the chain check and it is sent again, once, in the nonce it freed; a
reorg that moves it is followed; nothing is final before its confirmations."""

from __future__ import annotations

from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.models import ChainIntent
from dpo.sender.mined import listener_blocks
from dpo.sender.worker import Worker
from tests.integration.sender.test_sender import (
    all_final,
    assert_contiguous_nonces,
    intents,
    references,
)
from tests.integration.sender.test_sender_faults import versions
from tests.integration.sender.world import (
    World,
    chain_nonce,
    drive,
    issued_refs,
    make_worker,
    recorded_refs,
    rpc,
    seed,
)

CONFIRMATIONS = 3


def reorged(outcome: str) -> float:
    return REGISTRY.get_sample_value("dpo_sender_reorged_total", {"outcome": outcome}) or 0.0


async def by_kind(sessions: async_sessionmaker[AsyncSession]) -> dict[str, ChainIntent]:
    return {i.kind: i for i in await intents(sessions)}


async def mined_issue(
    world: World, sessions: async_sessionmaker[AsyncSession], worker: Worker
) -> ChainIntent:
    """One paid order: its invest and issue mined one block apart, the issue's block the head."""
    await seed(sessions, world, 1)
    rpc(world.url, "evm_setAutomine", False)
    await worker.run_pass()  # the invest signed and sent
    rpc(world.url, "evm_mine")
    await worker.run_pass()  # the invest mined; the issue signed and sent
    rpc(world.url, "evm_mine")
    await worker.run_pass()  # the issue mined
    rows = await by_kind(sessions)
    assert (rows["invest"].state, rows["issue"].state) == ("mined", "mined")
    head = rpc(world.url, "eth_getBlockByNumber", "latest", False)
    assert rows["issue"].block_hash == head["hash"]
    assert rows["issue"].block_number == int(head["number"], 16)
    return rows["issue"]


async def finish(world: World, sessions: async_sessionmaker[AsyncSession], worker: Worker) -> None:
    """Automine back on, and blocks on top until every intent is final."""
    rpc(world.url, "evm_setAutomine", True)
    await drive(worker, all_final(sessions), between=lambda: rpc(world.url, "evm_mine"))


async def assert_issued_once(world: World, sessions: async_sessionmaker[AsyncSession]) -> None:
    rows = await intents(sessions)
    assert {i.state for i in rows} == {"succeeded"}
    refs = await references(sessions)
    assert issued_refs(world.url, world.issuance) == dict.fromkeys(refs, 1)
    assert recorded_refs(world.url, world.sto) == dict.fromkeys(refs, 1)
    await assert_contiguous_nonces(sessions, world)


async def test_a_reorg_that_takes_the_issue_sends_it_again_once_in_its_nonce(
    world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    worker = make_worker(sessions, world, world.url, confirmations=CONFIRMATIONS)
    issue = await mined_issue(world, sessions, worker)
    (ref,) = await references(sessions)
    assert issued_refs(world.url, world.issuance) == {ref: 1}
    dropped = reorged("dropped")

    rpc(world.url, "anvil_reorg", 1, [])  # the issue's block replaced by an empty one
    assert issued_refs(world.url, world.issuance) == {}
    assert chain_nonce(world.url) == issue.nonce  # the chain no longer counts its nonce
    rpc(world.url, "evm_setAutomine", True)
    await worker.run_pass()  # taken: checked on chain (not issued), sent again at once

    again = (await by_kind(sessions))["issue"]
    assert again.state in ("in_flight", "mined")
    assert again.nonce == issue.nonce  # the nonce the reorg freed, not a new one past a hole
    assert reorged("dropped") == dropped + 1
    assert str(again.last_error).startswith(f"block {issue.block_number} taken by a reorg")
    await finish(world, sessions, worker)

    final = (await by_kind(sessions))["issue"]
    assert final.block_hash != issue.block_hash
    assert final.sends == 2
    assert {v.nonce for v in await versions(sessions) if v.intent_id == issue.id} == {issue.nonce}
    assert issued_refs(world.url, world.issuance) == {ref: 1}
    await assert_issued_once(world, sessions)


async def test_a_reorg_while_the_sender_is_down_is_found_by_the_next_one(
    world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    crashed = make_worker(sessions, world, world.url, confirmations=CONFIRMATIONS)
    issue = await mined_issue(world, sessions, crashed)
    rpc(world.url, "anvil_reorg", 1, [])
    del crashed  # a new process: nothing remembered but the database
    restarted = make_worker(sessions, world, world.url, confirmations=CONFIRMATIONS)
    await finish(world, sessions, restarted)

    final = (await by_kind(sessions))["issue"]
    assert (final.nonce, final.sends) == (issue.nonce, 2)
    (ref,) = await references(sessions)
    assert issued_refs(world.url, world.issuance) == {ref: 1}
    await assert_issued_once(world, sessions)


async def test_a_freed_nonce_nothing_takes_again_is_filled_so_ours_behind_it_go(
    world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    worker = make_worker(sessions, world, world.url, confirmations=CONFIRMATIONS)
    issue = await mined_issue(world, sessions, worker)  # order A: invest n, issue n + 1
    freed = int(issue.nonce or 0)
    await seed(sessions, world, 1)  # order B
    await worker.run_pass()  # its invest sent at n + 2, not mined
    invest_b = [i for i in await intents(sessions) if i.kind == "invest"][-1]
    assert (invest_b.state, invest_b.nonce) == ("in_flight", freed + 1)

    rpc(world.url, "anvil_reorg", 2, [])  # both blocks of order A gone
    await worker.run_pass()
    # A's invest takes n again; its issue waits for it, so n + 1 would hold B's invest back.
    rows = await intents(sessions)
    fills = [i for i in rows if i.kind == "fill"]
    assert [(f.state, f.nonce, f.investment_id) for f in fills] == [("in_flight", freed, None)]
    await finish(world, sessions, worker)

    rows = await intents(sessions)
    assert [i.state for i in rows if i.kind == "fill"] == ["succeeded"]
    a_issue = next(i for i in rows if i.id == issue.id)
    assert int(a_issue.nonce or 0) > freed  # a later one: its own was filled
    await assert_issued_once(world, sessions)


async def test_a_revert_that_takes_the_order_and_the_issue_sends_both_again_in_order(
    world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # Deeper than this reorg: a reorg past the confirmations is beyond what they promise.
    worker = make_worker(sessions, world, world.url, confirmations=20)
    snapshot = rpc(world.url, "evm_snapshot")
    before = await by_kind(sessions)
    assert before == {}
    await seed(sessions, world, 2)
    await drive(worker, lambda: _all_mined(sessions))  # automine: each in its own block
    first = {(i.investment_id, i.kind): int(i.nonce or 0) for i in await intents(sessions)}
    assert len(issued_refs(world.url, world.issuance)) == 2

    rpc(world.url, "evm_revert", snapshot)  # every block of ours gone, the head lower
    assert issued_refs(world.url, world.issuance) == {}
    assert recorded_refs(world.url, world.sto) == {}
    dropped = reorged("dropped")
    await finish(world, sessions, worker)

    assert reorged("dropped") == dropped + 4
    again = {(i.investment_id, i.kind): int(i.nonce or 0) for i in await intents(sessions)}
    assert sorted(again.values()) == sorted(first.values())  # the same nonces, no hole
    for investment_id, kind in again:
        if kind == "issue":  # after its order, as the dependency wants
            assert again[(investment_id, "issue")] > again[(investment_id, "invest")]
    await assert_issued_once(world, sessions)


async def _all_mined(sessions: async_sessionmaker[AsyncSession]) -> bool:
    rows = await intents(sessions)
    return bool(rows) and all(i.state == "mined" for i in rows)


async def test_nothing_is_final_before_its_confirmations(
    world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    worker = make_worker(sessions, world, world.url, confirmations=CONFIRMATIONS)
    issue = await mined_issue(world, sessions, worker)
    for depth in range(1, CONFIRMATIONS + 1):
        rpc(world.url, "evm_mine")
        await worker.run_pass()
        rows = await by_kind(sessions)
        # The invest was mined one block before the issue: it is final one block earlier.
        assert rows["invest"].state == ("succeeded" if depth >= CONFIRMATIONS - 1 else "mined")
        assert rows["issue"].state == ("succeeded" if depth >= CONFIRMATIONS else "mined")
    final = (await by_kind(sessions))["issue"]
    assert (final.tx_hash, final.block_hash) == (issue.tx_hash, issue.block_hash)
    assert final.finished_at is not None
    await assert_issued_once(world, sessions)


async def test_a_receipt_moved_to_another_block_is_followed_and_counted_again(
    world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    worker = make_worker(sessions, world, world.url, confirmations=CONFIRMATIONS)
    issue = await mined_issue(world, sessions, worker)
    (signed,) = [v for v in await versions(sessions) if v.intent_id == issue.id]
    moved = reorged("moved")
    for _ in range(CONFIRMATIONS - 1):
        rpc(world.url, "evm_mine")
    # A reorg from the issue's block on: the same transaction, in a block of another hash.
    rpc(world.url, "anvil_reorg", CONFIRMATIONS, [[signed.raw_tx, 0]])
    receipt = rpc(world.url, "eth_getTransactionReceipt", signed.tx_hash)
    assert receipt["blockHash"] != issue.block_hash
    await worker.run_pass()

    after = (await by_kind(sessions))["issue"]
    assert after.state == "mined"  # deep enough by number, but its block is not the chain's
    assert after.block_hash == receipt["blockHash"]
    assert after.block_number == int(receipt["blockNumber"], 16)
    assert after.last_error == f"moved by a reorg to block {after.block_number}"
    assert reorged("moved") == moved + 1
    await finish(world, sessions, worker)

    final = (await by_kind(sessions))["issue"]
    assert final.sends == 1  # followed, never sent again
    assert final.tx_hash == signed.tx_hash
    await assert_issued_once(world, sessions)


async def test_the_listeners_events_count_only_live_and_at_or_below_its_checkpoint(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    refs = ["0x" + f"{n:064x}" for n in range(1, 7)]
    rows = [  # (ref, event, block, removed, chain)
        (refs[0], "Issued", 10, False, 31337),  # seen, below the checkpoint
        (refs[1], "Issued", 10, True, 31337),  # removed by a reorg
        (refs[2], "Issued", 21, False, 31337),  # above the checkpoint
        (refs[3], "Issued", 10, False, 1),  # another chain
        (refs[4], "InvestmentReceived", 12, False, 31337),  # the invest's event
        (refs[5], "InvestmentRefunded", 20, False, 31337),  # at the checkpoint
    ]
    async with sessions() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO listener_checkpoints (chain_id, last_processed_block, "
                "last_processed_hash) VALUES (31337, 20, :h)"
            ),
            {"h": "0x" + "ab" * 32},
        )
        for n, (ref, event, block, removed, chain) in enumerate(rows, start=1):
            await session.execute(
                text(
                    "INSERT INTO chain_events (id, chain_id, contract_address, contract_name, "
                    "event_name, block_number, block_hash, tx_hash, tx_index, log_index, args, "
                    "removed, removed_at) VALUES (:id, :chain, :a, 'X', :event, :block, :bh, :tx, "
                    "0, 0, jsonb_build_object('investmentRef', CAST(:ref AS text)), :removed, "
                    "CASE WHEN :removed THEN now() END)"
                ),
                {
                    "id": n,
                    "chain": chain,
                    "a": "0x" + "11" * 20,
                    "event": event,
                    "block": block,
                    "bh": "0x" + f"{n:064x}",
                    "tx": "0x" + f"{n + 99:064x}",
                    "ref": ref,
                    "removed": removed,
                },
            )
    wanted = [("issue", ref) for ref in refs[:4]] + [
        ("invest", refs[4]),
        ("issue", refs[4]),
        ("refund", refs[5]),
        ("fill", refs[0]),
    ]
    found = await listener_blocks(sessions, 31337, wanted)
    assert found == {("issue", refs[0]): 10, ("invest", refs[4]): 12, ("refund", refs[5]): 20}
    assert await listener_blocks(sessions, 31337, []) == {}
    assert await listener_blocks(sessions, 5, wanted) == {}  # no listener on that chain
