"""One run of a job at a time, across processes and replicas: a session-level advisory lock.

The lock lives on a connection of its own, held for the whole run, so a run may commit as many
units of work as it likes on other connections. When the process dies, even by SIGKILL, its
connection closes and PostgreSQL releases the lock: the next run starts without waiting for a
timeout, and finds the dead run's `job_runs` row still `running` (it marks it failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging

import asyncpg

from dpo.db.urls import libpq_url

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
STATEMENT_TIMEOUT = 5.0


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a job (or the scheduler)."""
    digest = hashlib.blake2b(f"dpo-job:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLock:
    """A try-lock on a dedicated connection; `acquire` never waits for the holder."""

    def __init__(self, database_url: str, name: str) -> None:
        self.url = libpq_url(database_url)
        self.name = name
        self.key = lock_key(name)
        self._connection: asyncpg.Connection | None = None

    @property
    def held(self) -> bool:
        """Whether we hold the lock (its connection is open)."""
        return self._connection is not None and not self._connection.is_closed()

    async def acquire(self) -> bool:
        """Take the lock if it is free; False if someone holds it. Raises if unreachable."""
        connection = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT)
        try:
            held = await connection.fetchval(
                "SELECT pg_try_advisory_lock($1)", self.key, timeout=STATEMENT_TIMEOUT
            )
        except BaseException:
            await _close(connection)
            raise
        if not held:
            await _close(connection)
            return False
        self._connection = connection
        return True

    async def alive(self) -> bool:
        """Whether the lock's connection still answers (the lock is still ours)."""
        connection = self._connection
        if connection is None or connection.is_closed():
            return False
        try:
            await connection.fetchval("SELECT 1", timeout=STATEMENT_TIMEOUT)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False
        return True

    async def release(self) -> None:
        """Give the lock up and close its connection (closing alone would release it too)."""
        connection, self._connection = self._connection, None
        if connection is None or connection.is_closed():
            return
        with contextlib.suppress(
            TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError
        ):
            await connection.execute(
                "SELECT pg_advisory_unlock($1)", self.key, timeout=STATEMENT_TIMEOUT
            )
        await _close(connection)


async def _close(connection: asyncpg.Connection) -> None:
    with contextlib.suppress(Exception):
        await connection.close(timeout=STATEMENT_TIMEOUT)


async def stand_by(
    lock: AdvisoryLock, stop: asyncio.Event, *, name: str, others: str, retry: float
) -> bool:
    """Wait until `lock` is ours (True) or `stop` is set (False): the standby of a process
    that runs one active across replicas. Says once that `others` hold it; an unreachable
    PostgreSQL is a WARNING and another try, never an exit."""
    told = False
    while not stop.is_set():
        try:
            if await lock.acquire():
                return True
        except (OSError, TimeoutError) as error:
            logger.warning(
                "cannot reach PostgreSQL for the %s lock: %s", name, type(error).__name__
            )
        if not told:
            logger.info("%s; standing by", others)
            told = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), retry)
    return False
