"""The lean queue and flag of the WebSocket protocol behave like asyncio's; its frames are
websockets' own."""

from __future__ import annotations

import asyncio

from websockets.frames import Frame, Opcode

from app.server.ws_protocol import Flag, Inbox, text_frame_header


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


def test_a_text_frame_written_directly_is_the_frame_websockets_writes() -> None:
    for length in (0, 1, 125, 126, 127, 65535, 65536, 70000):
        payload = bytes(range(256)) * (length // 256) + b"x" * (length % 256)
        expected = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
        assert text_frame_header(length) + payload == expected, length
