"""A reorg with `dpo listener` running: the block holding an order's issue is replaced, the
listener puts the investment back to paid, the sender sends the issue again, and the final
chain holds one issuance, the investment issued once, the nonces without a hole."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.e2e.test_listener_process import listener_env
from tests.e2e.test_listener_process import start as start_listener
from tests.e2e.test_listener_process import stop as stop_process
from tests.integration.sender.conftest import anvil, sender_db, sessions, world
from tests.integration.sender.test_sender import (
    all_final,
    assert_contiguous_nonces,
    intents,
    references,
)
from tests.integration.sender.world import (
    World,
    drive,
    issued_refs,
    make_worker,
    recorded_refs,
    rpc,
    seed,
)

__all__ = ["anvil", "sender_db", "sessions", "world"]


async def until(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def investment_state(sessions: async_sessionmaker[AsyncSession]) -> str:
    async with sessions() as session:
        return str(await session.scalar(text("SELECT state FROM investments")))


async def issued_events(sessions: async_sessionmaker[AsyncSession], ref: str) -> list[bool]:
    """The listener's Issued rows of the reference: removed or live, in feed order."""
    async with sessions() as session:
        return list(
            await session.scalars(
                text(
                    "SELECT removed FROM chain_events WHERE event_name = 'Issued' "
                    "AND removes_id IS NULL AND args ->> 'investmentRef' = :r ORDER BY id"
                ),
                {"r": ref},
            )
        )


async def test_a_reorg_that_takes_the_issue_ends_in_one_issuance_with_the_listener(
    world: World, sessions: async_sessionmaker[AsyncSession], sender_db: str, redis_url: str
) -> None:
    (investment_id,) = await seed(sessions, world, 1)
    (ref,) = await references(sessions)
    async with sessions() as session, session.begin():  # paid as the webhook marks it
        await session.execute(text("UPDATE investments SET paid_at = now()"))
    worker = make_worker(sessions, world, world.url, confirmations=4)
    listener = start_listener(listener_env(sender_db, redis_url, world.url, world.addresses))
    try:

        async def issued() -> bool:
            return await investment_state(sessions) == "issued"

        async def issue_mined() -> bool:
            states = [i.state for i in await intents(sessions)]
            return states == ["mined", "mined"] and await issued()

        await drive(worker, issue_mined)
        before = next(i for i in await intents(sessions) if i.kind == "issue")
        assert await issued_events(sessions, ref) == [False]

        rpc(world.url, "anvil_reorg", 1, [])  # the issue's block replaced by an empty one
        assert issued_refs(world.url, world.issuance) == {}

        async def back_to_paid() -> bool:
            return await investment_state(sessions) == "paid"

        await until(back_to_paid, "the listener to revert the issuance")
        assert await issued_events(sessions, ref) == [True]

        # The sender finds the block gone, checks the chain, sends the issue again.
        await drive(worker, all_final(sessions), between=lambda: rpc(world.url, "evm_mine"))
        await until(issued, "the investment issued again")
    finally:
        code, output = await stop_process(listener)
    assert code == 0, output

    rows = await intents(sessions)
    assert {i.state for i in rows} == {"succeeded"}
    issue = next(i for i in rows if i.kind == "issue")
    assert issue.nonce == before.nonce
    assert issue.sends == 2
    assert issue.block_hash != before.block_hash
    assert issued_refs(world.url, world.issuance) == {ref: 1}
    assert recorded_refs(world.url, world.sto) == {ref: 1}
    assert await issued_events(sessions, ref) == [True, False]  # one live issuance
    async with sessions() as session:
        tx_hash = await session.scalar(
            text("SELECT tx_hash FROM investments WHERE id = :i"), {"i": investment_id}
        )
    assert await investment_state(sessions) == "issued"
    assert tx_hash is not None
    await assert_contiguous_nonces(sessions, world)
