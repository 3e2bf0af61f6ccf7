"""The outbox's delivery worker, run inside the scheduler process (jobs/scheduler.py).

It runs only on the active scheduler, so replicas never race for the same messages (the
claim's SKIP LOCKED and lease would keep them apart anyway). Polls every POLL_SECONDS;
a backlog is drained batch by batch without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.exc import SQLAlchemyError

from dpo.notifications.delivery import deliver_due
from dpo.notifications.metrics import refresh_backlog
from dpo.notifications.notifier import Notifier, OmnisendNotifier
from dpo.providers.factory import Providers, breakers_for
from dpo.runtime import Runtime

logger = logging.getLogger(__name__)

POLL_SECONDS = 5.0
BATCH = 50


async def deliver_loop(
    runtime: Runtime, notifier: Notifier, stopping: asyncio.Event, *, poll: float = POLL_SECONDS
) -> None:
    """Deliver due messages until `stopping` is set."""
    ops_email = runtime.settings.ops_email
    if ops_email is None:
        logger.warning("OPS_EMAIL is not set: ops notifications wait in the outbox")
    while not stopping.is_set():
        try:
            done = await deliver_due(runtime.sessions, notifier, ops_email=ops_email, limit=BATCH)
            await refresh_backlog(runtime.sessions)
            if done.sent or done.failed or done.retrying or done.recovered:
                logger.info(
                    "notifications: %d sent, %d retrying, %d failed, %d recovered",
                    done.sent,
                    done.retrying,
                    done.failed,
                    done.recovered,
                )
            if done.sent + done.failed + done.retrying >= BATCH:
                continue  # more are due
        except (SQLAlchemyError, OSError) as error:
            logger.warning("notification delivery paused: %s", type(error).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), poll)


async def deliver_notifications(runtime: Runtime, stopping: asyncio.Event) -> None:
    """The scheduler's companion: Omnisend as the notifier, for as long as the leader lives."""
    # The breakers' state is shared with every process through Redis, as /api/health/ shows.
    providers = Providers.from_settings(
        runtime.settings, breakers=breakers_for(runtime.settings, redis=runtime.redis)
    )
    try:
        await deliver_loop(runtime, OmnisendNotifier(providers.omnisend), stopping)
    finally:
        await providers.aclose()
