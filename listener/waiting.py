"""Waiting unless the listener is told to stop, and which failures are waited out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from listener import metrics
from listener.dberrors import describe, is_transient_db_error
from listener.fetch import ChainMovedError
from listener.ports import RpcError

T = TypeVar("T")
# Longest wait between attempts while the provider or the database is unavailable, in seconds.
MAX_BACKOFF = 30.0


class StoppedError(Exception):
    """The stop event was set while waiting."""


async def until(stop: asyncio.Event, awaitable: Awaitable[T]) -> T:
    """Await `awaitable`, raising StoppedError as soon as `stop` is set."""
    task = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    raise StoppedError


def retry_reason(error: Exception) -> str | None:
    """Why `error` is retried with backoff (for the WARNING), or None when it stops us."""
    if isinstance(error, RpcError):
        # The client already retried and failed over.
        return f"RPC unavailable ({error})" if error.retryable else None
    if isinstance(error, ChainMovedError):
        return f"refused the provider's answers ({error.reason}: {error}); nothing committed"
    if is_transient_db_error(error):
        metrics.DB_RETRIES.inc()
        return f"database error ({describe(error)}); resuming from the checkpoint"
    return None


def backoff(poll_interval: float, failures: int) -> float:
    """Seconds to wait after `failures` failures in a row: doubling from the poll interval."""
    return float(min(MAX_BACKOFF, poll_interval * 2 ** min(failures, 8)))
