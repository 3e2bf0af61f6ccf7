"""Rows and principals for the service tests."""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import Kind, Principal
from dpo.db.models import AuditLog, Investor, InvestorWallet, Issuer, Offering

_counter = itertools.count(1)
CHAIN_ID = 31337


def address() -> str:
    """A fresh lowercase address."""
    return "0x" + secrets.token_hex(20)


def isin() -> str:
    """A well-formed ISIN unique in this run."""
    return f"XT{next(_counter):06d}{secrets.randbelow(1000):03d}0"


def admin() -> Principal:
    """A staff admin."""
    return Principal(kind=Kind.STAFF, role="admin", user_id=1)


def ops() -> Principal:
    """A staff operator."""
    return Principal(kind=Kind.STAFF, role="ops", user_id=2)


def issuer_staff(issuer_id: int) -> Principal:
    """Staff of one issuer."""
    return Principal(kind=Kind.STAFF, role="issuer", user_id=3, issuer_id=issuer_id)


def wallet(addr: str, investor_id: int | None = None) -> Principal:
    """A wallet sign-in, registered or not."""
    return Principal(kind=Kind.WALLET, role="investor", investor_id=investor_id, address=addr)


def now() -> datetime:
    """The current UTC time."""
    return datetime.now(UTC)


async def make_offering(session: AsyncSession, **overrides: Any) -> Offering:
    """An open Reg D 506(b) USD offering at 10 per unit, window around now, cap 10,000."""
    issuer = overrides.pop("issuer", None) or Issuer(name="Acme Capital AG", country="CH")
    values: dict[str, Any] = {
        "issuer": issuer,
        "isin": isin(),
        "name": "Acme Series A",
        "symbol": "ACME",
        "security_type": "equity",
        "regulation": "reg_d_506b",
        "currency": "USD",
        "unit_price": Decimal("10"),
        "min_ticket": Decimal("100"),
        "max_ticket": Decimal("5000"),
        "soft_cap": Decimal("1000"),
        "hard_cap": Decimal("10000"),
        "opens_at": now() - timedelta(days=1),
        "closes_at": now() + timedelta(days=30),
        "status": "open",
        "allowed_countries": [],
    }
    values.update(overrides)
    offering = Offering(**values)
    session.add(offering)
    await session.flush()
    return offering


async def make_investor(session: AsyncSession, **overrides: Any) -> tuple[Investor, Principal]:
    """A KYC-approved GB investor with one wallet, and their wallet principal."""
    values: dict[str, Any] = {
        "full_name": "Ada Lovelace",
        "email": f"ada{secrets.token_hex(6)}@example.com",
        "country": "GB",
        "kyc_status": "approved",
    }
    values.update(overrides)
    investor = Investor(**values)
    session.add(investor)
    await session.flush()
    addr = address()
    session.add(InvestorWallet(investor_id=investor.id, address=addr, chain_id=CHAIN_ID))
    await session.flush()
    return investor, wallet(addr, investor.id)


async def audit_rows(session: AsyncSession, entity_type: str, entity_id: int) -> list[AuditLog]:
    """The audit log of one entity, oldest first."""
    rows = await session.scalars(
        select(AuditLog)
        .where(AuditLog.entity_type == entity_type, AuditLog.entity_id == str(entity_id))
        .order_by(AuditLog.id)
    )
    return list(rows.all())
