"""The follower's fence: the commit requires the lock holder (no ping first) when one is known.

The lock check inside the commit statement is tests/integration/listener/test_store_trips.py's.
"""

from __future__ import annotations

import asyncio

from listener.leader import LockHolder
from tests.unit.listener.fake_rpc import FakeRpc
from tests.unit.listener.fake_store import FakeStore
from tests.unit.listener.test_follower_loop import Running, at_head, make_follower


class Fence:
    """A fence that counts its pings and knows the holder it is given."""

    def __init__(self, holder: LockHolder | None) -> None:
        self.known = holder
        self.pings = 0

    async def check(self) -> None:
        self.pings += 1

    def holder(self) -> LockHolder | None:
        return self.known


async def follow(fence: Fence) -> FakeStore:
    rpc, store = FakeRpc(), FakeStore()
    rpc.mine_many(6, events=1)
    follower = make_follower(rpc, store)
    follower.fence = fence
    run = Running(follower)
    try:
        await run.until(at_head(store, rpc))
        rpc.mine(events=1)
        await run.until(at_head(store, rpc))
        await run.finish()
    finally:
        run.task.cancel()
        await asyncio.gather(run.task, return_exceptions=True)
    return store


async def test_a_known_holder_goes_with_every_commit_and_nothing_is_pinged() -> None:
    holder = LockHolder(pid=4242, key=-7)
    fence = Fence(holder)
    store = await follow(fence)
    assert store.holders
    assert set(store.holders) == {holder}
    assert fence.pings == 0


async def test_without_a_known_holder_every_commit_is_preceded_by_a_ping() -> None:
    fence = Fence(None)
    store = await follow(fence)
    assert store.holders
    assert set(store.holders) == {None}
    assert fence.pings >= len(store.holders)
