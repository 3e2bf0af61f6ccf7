"""Prometheus metrics of the notification outbox (the scheduler process's /metrics).

The delivery worker counts what each pass did and, after each pass, sets the backlog gauges
from one query, so they describe the table (every process's messages), not this worker.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

DELIVERIES = Counter(
    "dpo_notification_deliveries_total",
    "Delivery attempts by outcome (sent, retrying, failed, recovered: a lease that expired).",
    ["outcome"],
)
PENDING = Gauge(
    "dpo_notifications_pending", "Messages not yet sent nor failed (pending or being sent)."
)
OLDEST_PENDING = Gauge(
    "dpo_notifications_oldest_pending_seconds",
    "Age of the oldest message not yet sent nor failed; 0 when none.",
)

COLLECTORS = (DELIVERIES, PENDING, OLDEST_PENDING)

_BACKLOG = text(
    "SELECT count(*) AS pending, "
    "coalesce(extract(epoch FROM now() - min(created_at)), 0) AS oldest "
    "FROM notifications WHERE status IN ('pending', 'sending')"
)


def count(*, sent: int, retrying: int, failed: int, recovered: int) -> None:
    """What one delivery pass did."""
    for outcome, value in (
        ("sent", sent),
        ("retrying", retrying),
        ("failed", failed),
        ("recovered", recovered),
    ):
        if value:
            DELIVERIES.labels(outcome=outcome).inc(value)


async def refresh_backlog(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Set the backlog gauges from the table."""
    async with sessions() as session:
        row = (await session.execute(_BACKLOG)).one()
    PENDING.set(int(row.pending))
    OLDEST_PENDING.set(max(float(row.oldest), 0.0))
