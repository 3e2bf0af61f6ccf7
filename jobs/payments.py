"""The payment request worker, run inside the scheduler process beside the outbox delivery.

Orders whose payment request could not be made at submit time (BillBitts down or slow) are
asked for again here, with backoff (dpo.payments.requests), until each has its page. Runs
only on the active scheduler; the claim's SKIP LOCKED and lease keep replicas apart anyway,
and BillBitts de-duplicates by reference.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.exc import SQLAlchemyError

from dpo.invalidation import announce_write
from dpo.payments.requests import request_due
from dpo.providers.billbitts import BillBittsClient
from dpo.providers.factory import billbitts_client, breakers_for
from dpo.runtime import Runtime

logger = logging.getLogger(__name__)

POLL_SECONDS = 5.0
BATCH = 20


async def request_loop(runtime: Runtime, client: BillBittsClient, stopping: asyncio.Event, *,
                       poll: float = POLL_SECONDS) -> None:
    """Ask for due payment requests until `stopping` is set."""
    expiry = runtime.settings.payment_expiry_seconds
    while not stopping.is_set():
        try:
            done = await request_due(runtime.sessions, client, expiry_seconds=expiry,
                                     limit=BATCH)
            if done.created:
                logger.info("payment requests: %d made, %d still due", done.created,
                            done.retrying)
                # The orders now carry their payment page: answers and subscribers refresh.
                await announce_write(runtime.redis, channel=runtime.channels.invalidate)
            if done.created + done.retrying >= BATCH:
                continue  # more are due
        except (SQLAlchemyError, OSError) as error:
            logger.warning("payment requests paused: %s", type(error).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), poll)


async def request_payments(runtime: Runtime, stopping: asyncio.Event) -> None:
    """The scheduler's companion, for as long as the leader lives."""
    if runtime.settings.billbitts_api_key is None:
        logger.warning("BILLBITTS_API_KEY is not set: orders wait for their payment requests")
        await stopping.wait()
        return
    client = billbitts_client(runtime.settings,
                              breakers=breakers_for(runtime.settings, redis=runtime.redis))
    try:
        await request_loop(runtime, client, stopping)
    finally:
        await client.http.aclose()
