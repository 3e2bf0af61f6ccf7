"""The schema refuses bad data, and big numbers survive the round trip."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.db.feed import next_feed_sequences
from dpo.db.models import (
    ChainEvent,
    DerivativeReport,
    FxRate,
    InvestorWallet,
    JobRun,
    Position,
    ReconciliationRun,
    SettlementInstruction,
    User,
    WebhookDelivery,
)
from tests.integration.db import factories as make

UINT256_MAX = 2**256 - 1


async def in_savepoint(db: AsyncSession, *rows: Any) -> None:
    """Add and flush the rows inside a savepoint, so a failure leaves the session usable."""
    async with db.begin_nested():
        db.add_all(rows)
        await db.flush()


async def refused(db: AsyncSession, constraint: str, *rows: Any) -> None:
    """Adding the rows fails on the named constraint."""
    with pytest.raises(IntegrityError, match=constraint):
        await in_savepoint(db, *rows)


async def saved(db: AsyncSession, *rows: Any) -> None:
    """Adding the rows succeeds."""
    db.add_all(rows)
    await db.flush()


async def offering_in_db(db: AsyncSession) -> Any:
    """A flushed offering, so positions can refer to its id."""
    row = make.offering()
    await saved(db, row)
    return row


async def test_duplicate_live_event_key_is_refused(db: AsyncSession) -> None:
    ids = await next_feed_sequences(db, 2)
    first = make.chain_event(ids[0])
    await saved(db, first)
    again = make.chain_event(ids[1], block_hash=first.block_hash, tx_hash=first.tx_hash)
    await refused(db, "uq_chain_events_live_key", again)


async def test_removed_event_key_can_come_back(db: AsyncSession) -> None:
    ids = await next_feed_sequences(db, 3)
    first = make.chain_event(ids[0])
    await saved(db, first)
    first.removed, first.removed_at = True, make.now()
    removal = make.chain_event(
        ids[1],
        block_hash=first.block_hash,
        tx_hash=first.tx_hash,
        removed=True,
        removed_at=make.now(),
        removes_id=first.id,
    )
    back = make.chain_event(ids[2], block_hash=first.block_hash, tx_hash=first.tx_hash)
    await saved(db, removal, back)
    live = await db.scalars(
        select(ChainEvent.id).where(ChainEvent.block_hash == first.block_hash, ~ChainEvent.removed)
    )
    assert list(live) == [ids[2]]


async def test_removal_item_must_be_removed_and_later(db: AsyncSession) -> None:
    ids = await next_feed_sequences(db, 2)
    first = make.chain_event(ids[1])
    await saved(db, first)
    await refused(
        db,
        "ck_chain_events_removal_is_removed",
        make.chain_event(ids[0] + 10**9, removes_id=first.id),
    )
    await refused(
        db,
        "ck_chain_events_removal_follows_event",
        make.chain_event(ids[0], removes_id=first.id, removed=True, removed_at=make.now()),
    )
    await refused(
        db, "ck_chain_events_removed_at_iff_removed", make.chain_event(ids[0], removed=True)
    )


async def test_negative_and_oversized_quantities_are_refused(db: AsyncSession) -> None:
    owner = await offering_in_db(db)
    # frozen_quantity (0) <= quantity fails too; either name proves the refusal.
    await refused(
        db,
        "ck_positions_(quantity_uint256|frozen_within_quantity)",
        make.position(owner, quantity=-1),
    )
    await refused(db, "ck_positions_quantity_uint256", make.position(owner, quantity=2**256))
    await refused(
        db, "ck_positions_frozen_quantity_uint256", make.position(owner, frozen_quantity=-1)
    )
    await refused(db, "ck_offerings_units_sold_uint256", make.offering(units_sold=-5))
    await refused(db, "ck_investments_amount_positive", make.investment(amount=Decimal(0)))


async def test_frozen_above_quantity_is_refused(db: AsyncSession) -> None:
    owner = await offering_in_db(db)
    await refused(
        db,
        "ck_positions_frozen_within_quantity",
        make.position(owner, quantity=5, frozen_quantity=6),
    )
    await saved(db, make.position(owner, quantity=5, frozen_quantity=5))


async def test_second_position_at_the_same_place_is_refused(db: AsyncSession) -> None:
    owner = await offering_in_db(db)
    await saved(db, make.position(owner))
    await refused(db, "uq_positions_holder_address_offering_id_location", make.position(owner))
    await saved(db, make.position(owner, location="euroclear"))


def finished() -> dict[str, Any]:
    """Start and end times that satisfy the run checks, so only the status can fail."""
    at = make.now()
    return {"started_at": at, "finished_at": at}


BAD_STATES: list[tuple[str, Callable[[], Any]]] = [
    ("ck_offerings_status", lambda: make.offering(status="live")),
    ("ck_offerings_regulation", lambda: make.offering(regulation="reg_z")),
    ("ck_investments_state", lambda: make.investment(state="shipped")),
    ("ck_investors_kyc_status", lambda: make.investor(kyc_status="maybe")),
    ("ck_users_role", lambda: User(email="x@example.com", role="root")),
    ("ck_job_runs_status", lambda: JobRun(job="sync_fx_rates", status="paused", **finished())),
    ("ck_reconciliation_runs_status", lambda: ReconciliationRun(status="done", **finished())),
    (
        "ck_settlement_instructions_settlement_status",
        lambda: SettlementInstruction(
            reference="SI-1",
            csd="euroclear",
            account="12345",
            isin="XS0000000010",
            quantity=1,
            direction="deliver",
            counterparty="CEDELULL",
            trade_date=date(2026, 1, 2),
            settlement_date=date(2026, 1, 4),
            settlement_status="lost",
        ),
    ),
]


@pytest.mark.parametrize(("constraint", "build"), BAD_STATES, ids=[c for c, _ in BAD_STATES])
async def test_unknown_state_is_refused(
    db: AsyncSession, constraint: str, build: Callable[[], Any]
) -> None:
    await refused(db, constraint, build())


async def test_bad_addresses_and_hashes_are_refused(db: AsyncSession) -> None:
    owner = await offering_in_db(db)
    await refused(
        db, "ck_positions_holder_address_format", make.position(owner, holder_address="0x1234")
    )
    wallet = InvestorWallet(investor=make.investor(), address="ab" * 21, chain_id=42170)
    await refused(db, "ck_investor_wallets_address_format", wallet)
    await refused(
        db, "ck_offerings_token_address_format", make.offering(token_address="0x" + "g" * 40)
    )
    (event_id,) = await next_feed_sequences(db, 1)
    await refused(db, "ck_chain_events_tx_hash_format", make.chain_event(event_id, tx_hash="0x1"))


async def test_second_open_break_is_refused(db: AsyncSession) -> None:
    run = ReconciliationRun()
    first = make.reconciliation_break(run)
    await saved(db, first)
    await refused(db, "uq_reconciliation_breaks_open", make.reconciliation_break(run))
    # Once closed, the same disagreement may open again.
    first.status, first.resolved_at, first.resolved_by = "resolved", make.now(), "ops"
    await db.flush()
    await saved(db, make.reconciliation_break(run))
    await refused(
        db,
        "ck_reconciliation_breaks_resolved_at_iff_closed",
        make.reconciliation_break(run, kind="missing_on_chain", status="ignored"),
    )


async def test_idempotency_keys_are_unique(db: AsyncSession) -> None:
    await saved(db, WebhookDelivery(provider="billbitts", delivery_id="d-1", payload={}))
    await refused(
        db,
        "uq_webhook_deliveries_provider_delivery_id",
        WebhookDelivery(provider="billbitts", delivery_id="d-1", payload={}),
    )
    first = make.investment()
    await saved(db, first)
    await refused(
        db,
        "uq_investments_payment_reference",
        make.investment(payment_reference=first.payment_reference),
    )
    report: dict[str, Any] = {
        "uti": "UTI-1",
        "action": "new",
        "product": "IRS",
        "notional": Decimal("1e6"),
        "currency": "EUR",
        "counterparty_a": "A",
        "counterparty_b": "B",
        "reported_at": make.now(),
    }
    await saved(db, DerivativeReport(**report))
    await refused(db, "uq_derivative_reports_uti_action_version", DerivativeReport(**report))
    await saved(db, DerivativeReport(**report | {"action": "modify"}))


async def test_emails_are_unique_ignoring_case(db: AsyncSession) -> None:
    await saved(db, User(email="Ops@Example.com"))
    await refused(db, "uq_users_email_lower", User(email="ops@example.COM"))


async def test_fx_rate_must_be_positive(db: AsyncSession) -> None:
    row: dict[str, Any] = {
        "base": "EUR",
        "quote": "USD",
        "as_of": date(2026, 1, 2),
        "source": "ecb",
    }
    await refused(db, "ck_fx_rates_rate_positive", FxRate(**row, rate=Decimal(0)))
    await saved(db, FxRate(**row, rate=Decimal("1.085")))
    await refused(db, "uq_fx_rates_base_quote_as_of_source", FxRate(**row, rate=Decimal("1.09")))


async def test_uint256_max_round_trips_as_int(db: AsyncSession) -> None:
    owner = await offering_in_db(db)
    row = make.position(owner, quantity=UINT256_MAX, frozen_quantity=UINT256_MAX - 1)
    await saved(db, row)
    row_id = row.id
    db.expire(row)
    loaded = await db.scalar(select(Position).where(Position.id == row_id))
    assert loaded is not None
    assert loaded.quantity == UINT256_MAX
    assert type(loaded.quantity) is int
    assert loaded.frozen_quantity == UINT256_MAX - 1
    stored = await db.scalar(
        text("SELECT quantity::text FROM positions WHERE id = :id"), {"id": row_id}
    )
    assert stored == str(UINT256_MAX)


async def test_uint256_column_refuses_fractions_and_floats(db: AsyncSession) -> None:
    owner = await offering_in_db(db)
    for bad in (Decimal("1.5"), 1.0):
        with pytest.raises(StatementError):
            await in_savepoint(db, make.position(owner, quantity=bad))


async def test_money_keeps_eighteen_decimal_places(db: AsyncSession) -> None:
    amount = Decimal("12345678901234567890.123456789012345678")
    row = make.investment(amount=amount)
    await saved(db, row)
    row_id = row.id
    db.expire(row)
    stored = await db.scalar(text("SELECT amount FROM investments WHERE id = :id"), {"id": row_id})
    assert stored == amount
    assert str(stored).endswith(".123456789012345678")
    await db.refresh(row)
    assert row.amount == amount
