"""The lean queue and flag of the WebSocket protocol behave like asyncio's."""

from __future__ import annotations

import asyncio

from app.server.ws_protocol import Flag, Inbox


async def test_the_inbox_hands_items_over_in_order_and_waits_for_them() -> None:
    inbox = Inbox()
    inbox.put_nowait(1)
    reader = asyncio.create_task(inbox.get())
    assert await reader == 1
    assert inbox.empty()
    waiting = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    inbox.put_nowait(2)
    inbox.put_nowait(3)
    assert await waiting == 2
    assert await inbox.get() == 3


async def test_a_cancelled_reader_leaves_its_item_to_the_next() -> None:
    inbox = Inbox()
    first = asyncio.create_task(inbox.get())
    second = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("x")
    first.cancel()
    assert await second == "x"
    assert first.cancelled()


async def test_the_flag_wakes_every_waiter_and_can_be_lowered() -> None:
    flag = Flag()
    assert not flag.is_set()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    await asyncio.gather(*waiters)
    flag.clear()
    late = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    assert not late.done()
    late.cancel()
    flag.set()
    await flag.wait()
