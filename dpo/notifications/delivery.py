"""Delivering the outbox: claim, send, mark; retries with backoff; crash-safe.

A worker claims due messages (`pending` → `sending`, attempts + 1, a lease) in one short
transaction with SKIP LOCKED, sends each through the Notifier, and marks it `sent` in
another. What a crash can do at each point:

- before or during the claim: nothing was claimed; the message stays `pending`.
- after the claim, before the send: the lease expires and the message is `pending` again.
- between a send that reached the provider and the `sent` mark (milliseconds): the lease
  expires and the message is sent again. This is the one duplicate we cannot rule out,
  because Omnisend's v3 events carry no idempotency key; the message's stable key travels
  with every attempt (`messageKey`) so a repeat can be recognised downstream. We choose a
  possible duplicate over a possible loss.

A provider refusal (ProviderRejected, a bad address) fails the message at once; any other
error retries with exponential backoff up to MAX_ATTEMPTS, then fails it. Failed messages
stay in the table for ops. Ops messages wait (unclaimed) while OPS_EMAIL is unset.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.session import unit_of_work
from dpo.errors import ProviderRejected, ValidationError
from dpo.notifications import metrics
from dpo.notifications.notifier import Message, Notifier

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)
MAX_ATTEMPTS = 8
BACKOFF_FIRST, BACKOFF_MAX = 30.0, 3600.0

_RECOVER = text(
    "UPDATE notifications SET status = 'pending', claimed_until = NULL, "
    "last_error = 'delivery interrupted (the send may have happened); retried' "
    "WHERE status = 'sending' AND claimed_until < now()"
)
_CLAIM = text(
    "UPDATE notifications SET status = 'sending', attempts = attempts + 1, "
    "claimed_until = now() + make_interval(secs => :lease) "
    "WHERE id IN (SELECT id FROM notifications WHERE status = 'pending' "
    "AND next_attempt_at <= now() AND (audience <> 'ops' OR :ops_known) "
    "ORDER BY next_attempt_at, id LIMIT :limit FOR UPDATE SKIP LOCKED) "
    "RETURNING id, key, event, email, fields, attempts"
)
_SENT = text(
    "UPDATE notifications SET status = 'sent', sent_at = now(), claimed_until = NULL, "
    "last_error = NULL WHERE id = :id AND status = 'sending' AND attempts = :attempts"
)
_AGAIN = text(
    "UPDATE notifications SET status = :status, claimed_until = NULL, last_error = :error, "
    "next_attempt_at = now() + make_interval(secs => :delay) "
    "WHERE id = :id AND status = 'sending' AND attempts = :attempts"
)


@dataclass
class Delivered:
    """What one pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    recovered: int = 0


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones (with jitter)."""
    base = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(attempts - 1, 0))
    return float(base * random.uniform(0.8, 1.2))  # noqa: S311 (jitter, not security)


async def _execute(
    sessions: async_sessionmaker[AsyncSession], statement: object, **params: object
) -> int:
    async with unit_of_work(sessions) as session:
        result = await session.execute(statement, params)  # type: ignore[call-overload]
        return int(result.rowcount)


async def deliver_due(
    sessions: async_sessionmaker[AsyncSession],
    notifier: Notifier,
    *,
    ops_email: str | None,
    limit: int = 50,
) -> Delivered:
    """Recover expired leases, then claim and send up to `limit` due messages."""
    done = Delivered(recovered=await _execute(sessions, _RECOVER))
    async with unit_of_work(sessions) as session:
        claimed = (
            await session.execute(
                _CLAIM,
                {
                    "lease": LEASE.total_seconds(),
                    "ops_known": ops_email is not None,
                    "limit": limit,
                },
            )
        ).all()
    for row in claimed:
        email = row.email if row.email is not None else ops_email
        assert email is not None
        message = Message(key=row.key, event=row.event, email=email, fields=row.fields)
        try:
            await notifier.send(message)
        except (ProviderRejected, ValidationError) as error:
            done.failed += 1
            await _execute(
                sessions,
                _AGAIN,
                id=row.id,
                attempts=row.attempts,
                status="failed",
                delay=0,
                error=_describe(error),
            )
            logger.error("notification %s refused: %s", row.key, _describe(error))
            continue
        except Exception as error:
            final = row.attempts >= MAX_ATTEMPTS
            done.failed += final
            done.retrying += not final
            await _execute(
                sessions,
                _AGAIN,
                id=row.id,
                attempts=row.attempts,
                status="failed" if final else "pending",
                delay=backoff(row.attempts),
                error=_describe(error),
            )
            logger.warning(
                "notification %s not delivered (attempt %d): %s",
                row.key,
                row.attempts,
                _describe(error),
            )
            continue
        done.sent += await _execute(sessions, _SENT, id=row.id, attempts=row.attempts)
    metrics.count(
        sent=done.sent, retrying=done.retrying, failed=done.failed, recovered=done.recovered
    )
    return done


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:1000]
