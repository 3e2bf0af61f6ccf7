"""Writing to the outbox, in the caller's transaction.

A message commits or rolls back with the change that causes it, so a change never exists
without its notification, nor a notification without its change. Each message has a key
naming what it is about (`job_failed:123`, `breaks_opened:run:45`, `tokens_issued:inv:9`):
enqueueing the same key again does nothing, so a retried transaction or a replayed event
adds no second message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.db.models import Notification
from dpo.db.models.enums import Audience
from dpo.errors import ValidationError

Field = str | int | bool
_EVENT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
# Investor notifications the platform sends (the payments work enqueues them).
INVESTOR_EVENTS = frozenset(
    {
        "investment_received",
        "payment_confirmed",
        "investment_cancelled",
        "tokens_issued",
        "offering_closed",
    }
)
OPS_EVENTS = frozenset({"breaks_opened", "job_failed"})


async def enqueue(
    session: AsyncSession,
    *,
    key: str,
    audience: Audience,
    event: str,
    fields: Mapping[str, Field],
    email: str | None = None,
) -> bool:
    """Add a message unless one with `key` exists; True when added."""
    if not key or len(key) > 200:
        raise ValidationError("a notification key is 1 to 200 characters", field="key")
    if not _EVENT.match(event):
        raise ValidationError("not an event name", field="event")
    if audience is Audience.INVESTOR and (email is None or not _EMAIL.match(email)):
        raise ValidationError("an investor notification needs an e-mail address", field="email")
    statement = (
        insert(Notification)
        .values(key=key, audience=audience.value, event=event, email=email, fields=dict(fields))
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(Notification.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def notify_ops(
    session: AsyncSession, *, key: str, event: str, fields: Mapping[str, Field]
) -> bool:
    """A message to ops (sent to OPS_EMAIL)."""
    if event not in OPS_EVENTS:
        raise ValidationError("not an ops notification", field="event")
    return await enqueue(session, key=key, audience=Audience.OPS, event=event, fields=fields)


async def notify_investor(
    session: AsyncSession, *, key: str, event: str, email: str, fields: Mapping[str, Field]
) -> bool:
    """A message to an investor: investment received, payment confirmed, investment
    cancelled, tokens issued, offering closed."""
    if event not in INVESTOR_EVENTS:
        raise ValidationError("not an investor notification", field="event")
    return await enqueue(
        session, key=key, audience=Audience.INVESTOR, event=event, fields=fields, email=email
    )
