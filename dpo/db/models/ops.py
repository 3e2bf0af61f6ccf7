"""Operational records: job runs, received webhooks, the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from dpo.db.base import Base
from dpo.db.models import checks
from dpo.db.models.enums import RunStatus, WebhookStatus


class JobRun(Base):
    """One run of a scheduled job, with its timings, counts and error."""

    __tablename__ = "job_runs"
    __table_args__ = (
        checks.one_of("status", RunStatus),
        CheckConstraint("(status = 'running') = (finished_at IS NULL)", name="finished_iff_done"),
        CheckConstraint("finished_at >= started_at", name="finishes_after_start"),
        Index("ix_job_runs_job_started_at", "job", "started_at"),
        Index("ix_job_runs_running", "job", postgresql_where=text("status = 'running'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), server_default=RunStatus.RUNNING.value)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    error: Mapped[str | None] = mapped_column(Text)


class WebhookDelivery(Base):
    """A webhook as received; (provider, delivery_id) makes redelivery a no-op."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("provider", "delivery_id"),
        checks.one_of("status", WebhookStatus),
        checks.non_negative("attempts"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    delivery_id: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(
        String(16), server_default=WebhookStatus.RECEIVED.value, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    processed_at: Mapped[datetime | None]


class AuditLog(Base):
    """Who changed what, with the entity before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_entity_type_entity_id_at", "entity_type", "entity_id", "at"),
        Index("ix_audit_log_actor_at", "actor", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # "user:42", "api_key:ab12cd", "system:listener".
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    request_id: Mapped[str | None] = mapped_column(String(64))
    # Where the request came from (IPv6 fits in 45); None for jobs and the CLI.
    client_address: Mapped[str | None] = mapped_column(String(64))
