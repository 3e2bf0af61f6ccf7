"""The listener's state as the feed's consumers see it: live, halted (and why), not started.

A reorg deeper than the listener's window stops it (docs/LISTENER.md); the stop is recorded on
the chain's checkpoint row, and the feed then stops moving until an operator re-syncs with
`dpo listener --rewind`. A subscriber of `events` only sees silence, which looks like a quiet
chain, so the `feedStatus` subscription tells it: the state now, then every change (halted at
block N and why; live again after the re-sync).

One `StatusWatch` per process (owned by the hub) reads the checkpoint row while someone
watches: when the listener rings the doorbell with a status message (`{"chain_id", "status"}`,
listener.publish) and at least every `poll_interval` seconds, so a lost message costs latency
only. Consumers get a state only when it differs from the last one they were given.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncGenerator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

logger = logging.getLogger(__name__)


class FeedState(enum.Enum):
    """Whether the feed follows the chain."""

    LIVE = "live"
    HALTED = "halted"
    NOT_STARTED = "not_started"


@dataclass(frozen=True)
class FeedStatus:
    """One chain's feed state, from its listener checkpoint."""

    chain_id: int
    state: FeedState
    last_block: int | None = None
    updated_at: datetime | None = None
    halted_at: datetime | None = None
    reason: str | None = None

    @property
    def key(self) -> tuple[FeedState, datetime | None, str | None]:
        """What a consumer is told about: a moving checkpoint alone is not a change."""
        return (self.state, self.halted_at, self.reason)

    @property
    def message(self) -> str:
        """What the state means for a consumer of the feed."""
        if self.state is FeedState.HALTED:
            return (
                f"The feed is halted at block {self.last_block}: the chain reorganised "
                "deeper than the listener keeps, so no new items arrive until an operator "
                "re-syncs it. Keep your cursor: items of the replaced blocks will be "
                "followed by their removal items, and this subscription says LIVE again "
                "when the feed resumes."
            )
        if self.state is FeedState.NOT_STARTED:
            return "The listener has not committed a block of this chain yet."
        return f"The feed follows the chain (last block {self.last_block})."


def status_of(chain_id: int, row: Mapping[Any, Any] | None) -> FeedStatus:
    """The state a checkpoint row (or its absence) stands for."""
    if row is None:
        return FeedStatus(chain_id=chain_id, state=FeedState.NOT_STARTED)
    halted_at = row["halted_at"]
    return FeedStatus(
        chain_id=chain_id,
        state=FeedState.LIVE if halted_at is None else FeedState.HALTED,
        last_block=int(row["last_processed_block"]),
        updated_at=row["updated_at"],
        halted_at=halted_at,
        reason=None if halted_at is None else row["halted_reason"],
    )


def is_status_message(message: object) -> bool:
    """Whether a doorbell message announces a status change (not feed items)."""
    return isinstance(message, dict) and "status" in message and "first" not in message


async def read_status(sessions: async_sessionmaker[AsyncSession], chain_id: int) -> FeedStatus:
    """The chain's feed state now."""
    async with sessions() as session:
        row = (
            (
                await session.execute(
                    text(
                        "SELECT last_processed_block, updated_at, halted_at, halted_reason "
                        "FROM listener_checkpoints WHERE chain_id = :c"
                    ),
                    {"c": chain_id},
                )
            )
            .mappings()
            .first()
        )
    return status_of(chain_id, row)


class StatusWatch:
    """The current state of one chain's feed, and its changes, for this process's consumers."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        chain_id: int,
        poll_interval: float = 2.0,
    ) -> None:
        self.sessions = sessions
        self.chain_id = chain_id
        self.poll_interval = poll_interval
        self.current: FeedStatus | None = None
        self.watchers = 0
        self._changed = asyncio.Event()
        self._ring = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start re-reading the state (only while someone watches)."""
        self._task = asyncio.create_task(self._loop(), name="feed-status")

    async def stop(self) -> None:
        """Stop re-reading."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def ring(self) -> None:
        """Re-read now (the listener announced a change)."""
        self._ring.set()

    async def refresh(self) -> FeedStatus:
        """Read the state; wake the consumers if it changed."""
        new = await read_status(self.sessions, self.chain_id)
        if self.current is None or new.key != self.current.key:
            self.current = new
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()
        return new

    async def _loop(self) -> None:
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._ring.wait(), self.poll_interval)
            self._ring.clear()
            if not self.watchers:
                continue
            try:
                await self.refresh()
            except (SQLAlchemyError, OSError) as error:
                logger.warning("feed status read failed (%s); retrying", type(error).__name__)

    async def changes(self) -> AsyncGenerator[FeedStatus]:
        """The state now, then each state that differs from the last one yielded."""
        self.watchers += 1
        try:
            last = await self.refresh()
            yield last
            while True:
                changed = self._changed
                current = self.current
                if current is not None and current.key != last.key:
                    last = current
                    yield last
                    continue
                await changed.wait()
        finally:
            self.watchers -= 1
