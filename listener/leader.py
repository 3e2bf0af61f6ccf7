"""One active listener per chain: a PostgreSQL session-level advisory lock.

The lock lives on a dedicated connection held for the whole process. When the holder dies its
connection closes and PostgreSQL releases the lock, so a standby polling every second takes
over within seconds.

Fencing: a commit is made only by the lock's holder. The follower hands `holder()` (the lock
connection's server process and the lock's key, no I/O) to the store, whose commit statement
itself requires that this process holds the lock in this database (`HELD`, read from pg_locks
by the statement that writes): a tip commit is one round trip with its fence, where a ping of
the lock connection before it used to be a round trip of its own, on the tip's critical path.
A commit that finds the lock gone changes nothing and raises LeadershipLostError, as the
ping did. Where no holder is known (lost, or a revert) `check()` pings the lock connection as
before. A watchdog pings in the background too and sets `lost`, so the service stops at once
instead of at the next batch. The remaining window — the lock connection dies between the
statement's check and its commit, or a new holder's lock connection gets our dead one's
process id — is harmless: the store serialises writers on the checkpoint row (FOR UPDATE) and
skips events already stored, so a late commit by the old leader adds no duplicate and leaves
no gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import dataclass

import asyncpg

from dpo.db.urls import libpq_url

logger = logging.getLogger(__name__)

PING_TIMEOUT = 5.0
# True when the server process @lock_pid holds the advisory lock @lock_key (bigint) in the
# current database; a condition the store puts in its commit statement (listener.store_write).
HELD = (
    "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND pid = CAST(@lock_pid AS int) AND objsubid = 1 "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND ((classid::bigint << 32) | objid::bigint) = CAST(@lock_key AS bigint))"
)


@dataclass(frozen=True)
class LockHolder:
    """Who must hold the listener lock for a commit to be made: a server process and a key."""

    pid: int
    key: int

    def values(self) -> dict[str, int]:
        """HELD's parameters by name."""
        return {"lock_pid": self.pid, "lock_key": self.key}


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

    def holder(self) -> LockHolder | None:
        """The lock connection's process and the key while we hold the lock, as far as we
        know without asking (None: lost); the commit statement checks it on the server."""
        connection = self._connection
        if self.backend_pid is None or self.lost.is_set():
            return None
        if connection is None or connection.is_closed():
            return None
        return LockHolder(self.backend_pid, self.key)

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
            # Best effort: closing the connection releases the lock too. A watchdog ping
            # cancelled above in mid-flight leaves asyncpg refusing the next operation
            # (InternalClientError) when the commit, not the ping, found the lock lost.
            with contextlib.suppress(
                OSError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                asyncpg.InternalClientError,
                TimeoutError,
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
