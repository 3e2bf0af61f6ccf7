"""sync_fx_rates and sync_csd against the sandbox (real HTTP) and real PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.models import CsdHolding, FxRate, SettlementInstruction
from dpo.providers.factory import Providers
from dpo.services import market
from dpo.services.csd_sync import sync_csd
from dpo.services.fx import sync_fx_rates
from sandbox.server import Sandbox
from tests.integration.api.committed import Api

FRIDAY, SATURDAY = date(2026, 12, 4), date(2026, 12, 5)
ISIN_A, ISIN_B = "DE0001102580", "XS0000000009"
FX_QUERY = """query($on: Date) { fxRates(base: "EUR", quote: "USD", on: $on) {
  rate asOf source stale } }"""


@pytest.fixture
async def sessions(api: Api) -> async_sessionmaker[AsyncSession]:
    """The module database's sessions, emptied of what these tests write."""
    async with api.runtime.sessions() as session:
        await session.execute(
            text("TRUNCATE fx_rates, csd_holdings, settlement_instructions CASCADE")
        )
        await session.commit()
    return api.runtime.sessions


async def _count(sessions: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


# --- sync_fx_rates -------------------------------------------------------------------------


async def test_rates_and_cross_rates_then_a_repeat_writes_nothing(
    sandbox: Sandbox, providers: Providers, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sandbox.world.ecb.plant(
        {"as_of": FRIDAY.isoformat(), "rates": {"USD": "1.0812", "GBP": "0.8563", "JPY": "162.45"}}
    )
    first = await sync_fx_rates(sessions, providers.ecb)
    assert (first.as_of, first.currencies, first.written, first.errors) == (FRIDAY, 3, 12, {})
    async with sessions() as session:
        rates = {(r.base, r.quote): r.rate for r in await market.list_fx_rates(session)}
    assert rates[("EUR", "USD")] == Decimal("1.0812")
    assert rates[("USD", "EUR")] == (1 / Decimal("1.0812")).quantize(Decimal("1e-12"))
    assert rates[("GBP", "USD")] == (Decimal("1.0812") / Decimal("0.8563")).quantize(
        Decimal("1e-12")
    )
    again = await sync_fx_rates(sessions, providers.ecb)
    assert (again.written, again.unchanged) == (0, 12)
    assert await _count(sessions, FxRate) == 12


async def test_a_weekend_keeps_fridays_rate_with_its_date(
    sandbox: Sandbox, providers: Providers, sessions: async_sessionmaker[AsyncSession], api: Api
) -> None:
    sandbox.world.ecb.plant({"as_of": FRIDAY.isoformat(), "rates": {"USD": "1.0812"}})
    await sync_fx_rates(sessions, providers.ecb)
    saturday = await sync_fx_rates(sessions, providers.ecb)  # the feed still shows Friday
    assert (saturday.as_of, saturday.written) == (FRIDAY, 0)
    shown = await api.run(FX_QUERY, on=SATURDAY.isoformat())
    assert shown["data"]["fxRates"] == [
        {"rate": "1.0812", "asOf": "2026-12-04", "source": "ecb", "stale": False}
    ]
    # Friday + 4 working days (Thursday) is fresh; the fifth (the next Friday) is stale.
    assert (await api.run(FX_QUERY, on="2026-12-10"))["data"]["fxRates"][0]["stale"] is False
    assert (await api.run(FX_QUERY, on="2026-12-11"))["data"]["fxRates"][0]["stale"] is True


async def test_a_correction_rewrites_only_the_pairs_it_changes(
    sandbox: Sandbox, providers: Providers, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sandbox.world.ecb.plant({"as_of": FRIDAY.isoformat(), "rates": {"USD": "1.08", "GBP": "0.85"}})
    await sync_fx_rates(sessions, providers.ecb)
    sandbox.world.ecb.plant({"rates": {"USD": "1.09", "GBP": "0.85"}})
    corrected = await sync_fx_rates(sessions, providers.ecb)
    assert (corrected.written, corrected.unchanged) == (4, 2)  # EUR<->USD, GBP<->USD


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("500", "PROVIDER_UNAVAILABLE"),
        ("malformed", "PROVIDER_MALFORMED"),
        ("wrong_schema", "PROVIDER_MALFORMED"),
    ],
)
async def test_a_feed_fault_writes_nothing_and_says_why(
    sandbox: Sandbox,
    providers: Providers,
    sessions: async_sessionmaker[AsyncSession],
    fault: str,
    code: str,
) -> None:
    sandbox.world.ecb.faults.set(always=fault)
    result = await sync_fx_rates(sessions, providers.ecb)
    assert result.errors["ecb"].startswith(code)
    assert await _count(sessions, FxRate) == 0


# --- sync_csd ------------------------------------------------------------------------------


def _plant_statements(sandbox: Sandbox, lines: int = 5) -> None:
    for csd in (sandbox.world.euroclear, sandbox.world.clearstream):
        csd.plant(
            {
                "statement_date": FRIDAY.isoformat(),
                "statement_id": f"{csd.name}-1",
                "page_size": 2,
                "holdings": [
                    {
                        "account": f"ACC{n}",
                        "isin": ISIN_A if n % 2 else ISIN_B,
                        "quantity": 10**30 + n,
                    }
                    for n in range(lines)
                ],
            }
        )


async def _instruction(
    sessions: async_sessionmaker[AsyncSession], reference: str, csd: str
) -> None:
    async with sessions() as session:
        session.add(
            SettlementInstruction(
                reference=reference,
                csd=csd,
                account="ACC1",
                isin=ISIN_A,
                quantity=5,
                direction="deliver",
                counterparty="CPTY1",
                trade_date=FRIDAY,
                settlement_date=FRIDAY,
            )
        )
        await session.commit()


async def test_both_depositories_paginated_statements_and_statuses(
    sandbox: Sandbox, providers: Providers, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _plant_statements(sandbox)
    await _instruction(sessions, "EC-1", "euroclear")
    await _instruction(sessions, "CS-1", "clearstream")
    sandbox.world.euroclear.plant(
        {
            "statuses": {
                "EC-1": {
                    "prcgSts": "PACK",
                    "mtchgSts": "MACH",
                    "sttlmSts": "SETT",
                    "sttldAt": "2026-12-04T15:00:00Z",
                }
            }
        }
    )
    sandbox.world.clearstream.plant(
        {
            "statuses": {
                "CS-1": {
                    "prcgSts": "PACK",
                    "mtchgSts": "NMAT",
                    "sttlmSts": "PENF",
                    "rsn": {"cd": "LACK", "txt": "lack of securities"},
                }
            }
        }
    )
    result = await sync_csd(sessions, providers.depositories())
    assert result.counts()["outcome"] == "complete"
    assert result.holdings == {"euroclear": 5, "clearstream": 5}
    assert result.statuses == {"euroclear": 1, "clearstream": 1}
    assert len(sandbox.world.euroclear.requests) == 3 + 1  # three pages, one status query
    async with sessions() as session:
        rows = {r.reference: r for r in await session.scalars(select(SettlementInstruction))}
        big = await session.scalar(
            select(CsdHolding.quantity).where(
                CsdHolding.csd == "clearstream", CsdHolding.account == "ACC4"
            )
        )
    assert big == 10**30 + 4
    settled, failing = rows["EC-1"], rows["CS-1"]
    assert (settled.processing_status, settled.matching_status, settled.settlement_status) == (
        "acknowledged",
        "matched",
        "settled",
    )
    assert settled.settled_at is not None
    assert (failing.settlement_status, failing.status_reason) == (
        "failing",
        "LACK: lack of securities",
    )
    again = await sync_csd(sessions, providers.depositories())
    assert (again.holdings, again.removed, again.statuses) == (
        {"euroclear": 0, "clearstream": 0},
        {"euroclear": 0, "clearstream": 0},
        {"euroclear": 0, "clearstream": 0},
    )


async def test_one_depository_down_does_not_fail_the_other(
    sandbox: Sandbox, providers: Providers, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _plant_statements(sandbox)
    sandbox.world.euroclear.faults.set(always="503")
    result = await sync_csd(sessions, providers.depositories())
    counts = result.counts()
    assert counts["outcome"] == "partial"
    assert counts["errors"]["euroclear"].startswith("PROVIDER_UNAVAILABLE")
    assert counts["holdings"] == {"clearstream": 5}
    async with sessions() as session:
        stored = set(await session.scalars(select(CsdHolding.csd).distinct()))
    assert stored == {"clearstream"}


@pytest.mark.parametrize("fault", ["500", "malformed", "wrong_schema", "reset"])
async def test_a_fault_on_a_later_page_leaves_the_previous_statement_whole(
    sandbox: Sandbox, providers: Providers, sessions: async_sessionmaker[AsyncSession], fault: str
) -> None:
    _plant_statements(sandbox)
    await sync_csd(sessions, providers.depositories())
    sandbox.world.euroclear.plant(
        {
            "holdings": [{"account": "NEW", "isin": ISIN_A, "quantity": 1}]
            + [{"account": f"ACC{n}", "isin": ISIN_B, "quantity": 7} for n in range(4)]
        }
    )
    # Page 1 answers; page 2 fails on every attempt (3).
    sandbox.world.euroclear.faults.set(["ok", fault, fault, fault])
    result = await sync_csd(sessions, [providers.euroclear])
    assert "euroclear" in result.errors
    async with sessions() as session:
        accounts = sorted(
            await session.scalars(select(CsdHolding.account).where(CsdHolding.csd == "euroclear"))
        )
    assert accounts == [f"ACC{n}" for n in range(5)]


async def test_a_resent_statement_drops_lines_it_no_longer_has(
    sandbox: Sandbox, providers: Providers, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _plant_statements(sandbox)
    await sync_csd(sessions, providers.depositories())
    sandbox.world.euroclear.holdings.pop()
    sandbox.world.euroclear.holdings[0] = {**sandbox.world.euroclear.holdings[0], "quantity": 1}
    result = await sync_csd(sessions, [providers.euroclear])
    assert (result.holdings, result.removed) == ({"euroclear": 1}, {"euroclear": 1})
    assert await _count(sessions, CsdHolding) == 9


async def test_a_statement_with_a_line_twice_is_refused(
    sandbox: Sandbox, providers: Providers, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sandbox.world.clearstream.plant(
        {"holdings": [{"account": "ACC1", "isin": ISIN_A, "quantity": 1}] * 2}
    )
    result = await sync_csd(sessions, [providers.clearstream])
    assert result.errors["clearstream"].startswith("PROVIDER_MALFORMED")
    assert await _count(sessions, CsdHolding) == 0
