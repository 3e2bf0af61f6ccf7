"""The notification outbox: messages written with the change that causes them, sent later."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from dpo.db.base import Base
from dpo.db.models import checks
from dpo.db.models.enums import Audience, NotificationStatus


class Notification(Base):
    """One message to ops or an investor; `key` makes enqueueing it twice a no-op."""

    __tablename__ = "notifications"
    __table_args__ = (
        checks.one_of("audience", Audience),
        checks.one_of("status", NotificationStatus),
        checks.non_negative("attempts"),
        Index(
            "ix_notifications_due", "next_attempt_at", postgresql_where=text("status = 'pending'")
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    audience: Mapped[str] = mapped_column(String(16))
    # The provider's event (Omnisend custom event system name) that carries the e-mail.
    event: Mapped[str] = mapped_column(String(64))
    # The recipient; None for ops (OPS_EMAIL at delivery time).
    email: Mapped[str | None] = mapped_column(String(320))
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(16), server_default=NotificationStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # While `sending`: until when the claiming worker owns it.
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None]
