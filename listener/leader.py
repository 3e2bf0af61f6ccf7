"""One active listener per chain: a PostgreSQL session-level advisory lock.

The lock lives on a dedicated connection held for the whole process. When the holder dies its
connection closes and PostgreSQL releases the lock, so a standby polling every second takes
over within seconds.

Fencing: the follower calls `check()` before every commit; it pings the lock connection and
raises LeadershipLostError if that connection is gone (then the lock may already be someone
else's). A watchdog pings in the background too and sets `lost`, so the service stops at once
instead of at the next batch. The remaining window — the lock connection dies between the check
and the commit — is harmless: the store serialises writers on the checkpoint row (FOR UPDATE)
and skips events already stored, so a late commit by the old leader adds no duplicate and
leaves no gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging

import asyncpg

from dpo.db.urls import libpq_url

logger = logging.getLogger(__name__)

PING_TIMEOUT = 5.0


class LeadershipLostError(RuntimeError):
    """The advisory lock's connection is gone: another listener may be active now."""


def lock_key(chain_id: int) -> int:
    """A stable signed 64-bit advisory-lock key for a chain's listener."""
    digest = hashlib.blake2b(f"dpo-listener:{chain_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Leader:
    """Holds (or waits for) the listener lock of one chain."""

    def __init__(
        self,
        *,
        database_url: str,
        chain_id: int,
        retry_interval: float = 1.0,
        watch_interval: float = 1.0,
    ) -> None:
        self.url = libpq_url(database_url)
        self.chain_id = chain_id
        self.key = lock_key(chain_id)
        self.retry_interval = retry_interval
        self.watch_interval = watch_interval
        self.lost = asyncio.Event()
        self._connection: asyncpg.Connection | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._ping_lock = asyncio.Lock()
        # The lock connection's server process while we hold the lock, else None.
        self.backend_pid: int | None = None

    @property
    def active(self) -> bool:
        """Tell whether we hold the lock (as far as we know)."""
        return self.backend_pid is not None and not self.lost.is_set()

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until we hold the lock (True) or `stop` is set (False)."""
        waited = False
        while not stop.is_set():
            connection: asyncpg.Connection | None = None
            try:
                connection = self._connection
                if connection is None or connection.is_closed():
                    connection = self._connection = await asyncpg.connect(self.url, timeout=10)
                held = await connection.fetchval("SELECT pg_try_advisory_lock($1)", self.key)
            except (TimeoutError, OSError, asyncpg.PostgresError) as error:
                logger.warning(
                    "cannot reach PostgreSQL for the listener lock: %s", type(error).__name__
                )
                held = False
            if held and connection is not None:
                self.backend_pid = connection.get_server_pid()
                logger.info(
                    "listener lock of chain %s acquired; this instance is active", self.chain_id
                )
                self.lost.clear()
                self._watchdog = asyncio.create_task(self._watch())
                return True
            if not waited:
                logger.info("another listener of chain %s is active; standing by", self.chain_id)
                waited = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.retry_interval)
        return False

    async def check(self) -> None:
        """Raise LeadershipLostError unless our lock connection is alive."""
        connection = self._connection
        if self.lost.is_set() or connection is None or connection.is_closed():
            self.lost.set()
            raise LeadershipLostError(f"the listener lock of chain {self.chain_id} was lost")
        try:
            async with self._ping_lock:
                await connection.fetchval("SELECT 1", timeout=PING_TIMEOUT)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            self.lost.set()
            raise LeadershipLostError(
                f"the listener lock of chain {self.chain_id} was lost: {type(error).__name__}"
            ) from None

    async def release(self) -> None:
        """Give the lock up and close its connection."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        connection, self._connection = self._connection, None
        self.backend_pid = None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(
                OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError
            ):
                await connection.execute(
                    "SELECT pg_advisory_unlock($1)", self.key, timeout=PING_TIMEOUT
                )
            with contextlib.suppress(Exception):
                await connection.close(timeout=PING_TIMEOUT)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.watch_interval)
            try:
                await self.check()
            except LeadershipLostError as error:
                logger.error("%s; stopping", error)
                return
