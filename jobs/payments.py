"""The payment worker, run inside the scheduler process beside the outbox delivery.

Each pass, with one BillBitts client:
- orders whose payment request could not be made at submit time (BillBitts down or slow)
  are asked for again, with backoff (dpo.payments.requests), until each has its page;
- orders past their payment's expiry plus PAYMENT_EXPIRY_GRACE_SECONDS that BillBitts never
  announced are checked with BillBitts and settled (dpo.payments.expiry);
- payment requests of cancelled orders are cancelled at BillBitts, retried with backoff while
  it is down (dpo.payments.remote_cancel).
Runs only on the active scheduler; every claim's SKIP LOCKED and lease keep replicas apart
anyway, and each BillBitts call is idempotent. One part failing (the database, BillBitts)
does not stop the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.exc import SQLAlchemyError

from dpo.invalidation import announce_write
from dpo.payments.expiry import expire_due
from dpo.payments.remote_cancel import cancel_due
from dpo.payments.requests import request_due
from dpo.providers.billbitts import BillBittsClient
from dpo.providers.factory import billbitts_client, breakers_for
from dpo.runtime import Runtime

logger = logging.getLogger(__name__)

POLL_SECONDS = 5.0
BATCH = 20


async def payment_pass(runtime: Runtime, client: BillBittsClient) -> bool:
    """One pass over the three kinds of work; True when a part found a full batch."""
    settings = runtime.settings
    full = False
    changed = False
    try:
        requested = await request_due(
            runtime.sessions,
            client,
            expiry_seconds=settings.payment_expiry_seconds,
            limit=BATCH,
            lease_seconds=settings.payment_claim_lease_seconds,
        )
        if requested.created:
            logger.info(
                "payment requests: %d made, %d still due", requested.created, requested.retrying
            )
        changed |= requested.created > 0
        full |= requested.created + requested.retrying >= BATCH
    except (SQLAlchemyError, OSError) as error:
        logger.warning("payment requests paused: %s", type(error).__name__)
    try:
        expired = await expire_due(
            runtime.sessions,
            client,
            grace_seconds=settings.payment_expiry_grace_seconds,
            limit=BATCH,
            lease_seconds=settings.payment_claim_lease_seconds,
        )
        changed |= expired.changed > 0
        full |= expired.changed + expired.unchanged + expired.waiting >= BATCH
    except (SQLAlchemyError, OSError) as error:
        logger.warning("payment expiry checks paused: %s", type(error).__name__)
    try:
        cancelled = await cancel_due(
            runtime.sessions,
            client,
            limit=BATCH,
            lease_seconds=settings.payment_claim_lease_seconds,
        )
        full |= cancelled.closed + cancelled.retrying >= BATCH
    except (SQLAlchemyError, OSError) as error:
        logger.warning("remote payment cancels paused: %s", type(error).__name__)
    if changed:
        # Orders carry a page, or moved: answers and subscribers refresh.
        await announce_write(runtime.redis, channel=runtime.channels.invalidate)
    return full


async def payment_loop(
    runtime: Runtime,
    client: BillBittsClient,
    stopping: asyncio.Event,
    *,
    poll: float = POLL_SECONDS,
) -> None:
    """Passes until `stopping` is set; at once again while a part has a full batch."""
    while not stopping.is_set():
        if await payment_pass(runtime, client):
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), poll)


async def payment_worker(runtime: Runtime, stopping: asyncio.Event) -> None:
    """The scheduler's companion, for as long as the leader lives."""
    if runtime.settings.billbitts_api_key is None:
        logger.warning("BILLBITTS_API_KEY is not set: orders wait for their payment requests")
        await stopping.wait()
        return
    client = billbitts_client(
        runtime.settings, breakers=breakers_for(runtime.settings, redis=runtime.redis)
    )
    try:
        await payment_loop(runtime, client, stopping)
    finally:
        await client.http.aclose()
