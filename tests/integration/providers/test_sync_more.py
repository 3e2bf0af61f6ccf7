"""Xetra prices, Clearstream PMI ISIN requests and the job entry points, on real servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.models import InstrumentPrice, IsinRequest, Offering
from dpo.errors import ValidationError
from dpo.providers.clearstream import IsinRequest as PmiRequest
from dpo.providers.factory import Providers
from dpo.runs.runner import JobContext
from dpo.services import offering_changes
from dpo.services.isin_requests import reference, request_isins
from dpo.services.prices import sync_prices
from dpo.services.sync_jobs import run_sync_csd, run_sync_fx_rates
from sandbox.server import Sandbox
from tests.integration.api.committed import Api
from tests.integration.db import factories
from tests.integration.providers.conftest import settings_for
from tests.integration.services.support import admin

FRIDAY = date(2026, 12, 4)


@pytest.fixture
async def sessions(api: Api) -> async_sessionmaker[AsyncSession]:
    """The module database's sessions, emptied of what these tests write."""
    async with api.runtime.sessions() as session:
        await session.execute(
            text(
                "TRUNCATE instrument_prices, isin_requests, fx_rates, csd_holdings, "
                "settlement_instructions, offerings, issuers CASCADE"
            )
        )
        await session.commit()
    return api.runtime.sessions


async def _offerings(sessions: async_sessionmaker[AsyncSession], *isins: str | None) -> list[int]:
    async with sessions() as session:
        rows = [factories.offering(isin=isin, name=f"Acme {n}") for n, isin in enumerate(isins)]
        session.add_all(rows)
        await session.commit()
        return [row.id for row in rows]


async def test_xetra_prices_for_our_isins_and_a_repeat_writes_nothing(
    sandbox: Sandbox, providers: Providers, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _offerings(sessions, "DE0001102580", "XS0000000009", None)
    sandbox.world.xetra.plant(
        {
            "prices": [
                {
                    "isin": "DE0001102580",
                    "currency": "EUR",
                    "last": "101.25",
                    "asOf": "2026-12-04T16:30:00Z",
                },
                {
                    "isin": "US0378331005",
                    "currency": "USD",
                    "last": "1",
                    "asOf": "2026-12-04T16:30:00Z",
                },
            ]
        }
    )
    first = await sync_prices(sessions, providers.xetra)
    assert (first.asked, first.received, first.written, first.errors) == (2, 1, 1, {})
    again = await sync_prices(sessions, providers.xetra)
    assert (again.received, again.written) == (1, 0)
    sandbox.world.xetra.faults.set(always="wrong_schema")
    broken = await sync_prices(sessions, providers.xetra)
    assert broken.errors["xetra"].startswith("PROVIDER_MALFORMED")
    async with sessions() as session:
        prices = list(await session.scalars(select(InstrumentPrice)))
    assert [(p.isin, str(p.price), p.source) for p in prices] == [
        ("DE0001102580", "101.250000000000000000", "xetra")
    ]


async def test_an_offering_without_isin_gets_one_from_pmi_once(
    sandbox: Sandbox, providers: Providers, sessions: async_sessionmaker[AsyncSession]
) -> None:
    waiting, has_one = await _offerings(sessions, None, "DE0001102580")
    result = await request_isins(sessions, providers.clearstream)
    assert (result.asked, result.allocated, result.errors) == (1, 1, {})
    async with sessions() as session:
        offering = await session.get(Offering, waiting)
        request = await session.scalar(select(IsinRequest))
    assert offering is not None
    assert request is not None
    assert offering.isin is not None
    assert (request.request_ref, request.status, request.isin) == (
        reference(waiting),
        "allocated",
        offering.isin,
    )
    assert (await request_isins(sessions, providers.clearstream)).asked == 0
    assert sandbox.world.clearstream.isins_allocated == 1
    assert has_one != waiting


async def test_a_pending_request_is_asked_again_with_the_same_reference(
    sandbox: Sandbox, providers: Providers, sessions: async_sessionmaker[AsyncSession]
) -> None:
    [waiting] = await _offerings(sessions, None)
    sandbox.world.clearstream.plant({"pmi_mode": "pending"})
    assert (await request_isins(sessions, providers.clearstream)).pending == 1
    sandbox.world.clearstream.plant({"pmi_mode": "allocate"})
    assert (await request_isins(sessions, providers.clearstream)).allocated == 1
    refs = [r["path"] for r in sandbox.world.clearstream.requests]
    assert len(refs) == 2
    assert list(sandbox.world.clearstream.isin_requests) == [reference(waiting)]


async def test_an_answer_lost_in_a_crash_gives_the_same_isin_on_the_rerun(
    sandbox: Sandbox, providers: Providers, sessions: async_sessionmaker[AsyncSession]
) -> None:
    [waiting] = await _offerings(sessions, None)
    # PMI allocated, then we died before our commit: nothing of it is in our database.
    lost = await providers.clearstream.request_isin(
        PmiRequest(
            request_ref=reference(waiting),
            issuer_name="Acme Capital AG",
            instrument_name="Acme 0",
            currency="USD",
            security_type="equity",
        )
    )
    assert (await request_isins(sessions, providers.clearstream)).allocated == 1
    async with sessions() as session:
        assert (await session.get(Offering, waiting)).isin == lost.isin  # type: ignore[union-attr]
    assert sandbox.world.clearstream.isins_allocated == 1


async def test_a_rejection_is_kept_and_not_asked_again_and_an_outage_writes_nothing(
    sandbox: Sandbox, providers: Providers, sessions: async_sessionmaker[AsyncSession]
) -> None:
    rejected, later = await _offerings(sessions, None, None)
    sandbox.world.clearstream.faults.set(always="503")
    down = await request_isins(sessions, providers.clearstream)
    assert down.errors[str(rejected)].startswith("PROVIDER_UNAVAILABLE")
    assert down.asked == 1  # stops at the first: the desk is down
    sandbox.world.clearstream.faults.clear()
    sandbox.world.clearstream.plant({"pmi_mode": "reject"})
    assert (await request_isins(sessions, providers.clearstream)).rejected == 2
    sandbox.world.clearstream.plant({"pmi_mode": "allocate"})
    assert (await request_isins(sessions, providers.clearstream)).asked == 0
    async with sessions() as session:
        reasons = list(await session.scalars(select(IsinRequest.reason)))
    assert reasons == ["issuer not onboarded"] * 2
    assert later != rejected


async def test_an_offering_opens_only_with_an_isin(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    now = datetime.now(UTC)
    async with sessions() as session:
        issuer = factories.offering().issuer
        session.add(issuer)
        await session.flush()
        row = await offering_changes.create_offering(
            session,
            principal=admin(),
            issuer_id=issuer.id,
            fields={
                "name": "Acme 2030",
                "symbol": "ACME30",
                "security_type": "equity",
                "regulation": "reg_d_506c",
                "currency": "EUR",
                "unit_price": Decimal(10),
                "opens_at": now,
                "closes_at": now + timedelta(days=9),
                "hard_cap": Decimal(1000),
            },
        )
        assert row.isin is None
        with pytest.raises(ValidationError, match="isin must be set before opening"):
            await offering_changes.open_offering(session, principal=admin(), offering_id=row.id)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_the_job_entry_points_record_partial_success(
    sandbox: Sandbox, sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis
) -> None:
    sandbox.world.reset()
    await _offerings(sessions, None, "DE0001102580")
    sandbox.world.ecb.plant({"as_of": FRIDAY.isoformat(), "rates": {"USD": "1.08"}})
    sandbox.world.xetra.faults.set(always="500")
    sandbox.world.euroclear.faults.set(always="500")
    settings = settings_for(sandbox)
    fx = JobContext(
        name="sync_fx_rates", run_id=0, settings=settings, sessions=sessions, redis=redis
    )
    await run_sync_fx_rates(fx)
    assert fx.counts["outcome"] == "partial"
    assert fx.counts["written"] == 2
    assert fx.counts["errors"]["xetra"].startswith("PROVIDER_UNAVAILABLE")
    csd = JobContext(name="sync_csd", run_id=0, settings=settings, sessions=sessions, redis=redis)
    await run_sync_csd(csd)
    assert csd.counts["outcome"] == "partial"
    assert csd.counts["isin_requests"]["allocated"] == 1
    assert set(csd.counts["errors"]) == {"euroclear"}
    sandbox.world.ecb.faults.set(always="500")
    with pytest.raises(Exception, match="PROVIDER_UNAVAILABLE"):
        await run_sync_fx_rates(
            JobContext(
                name="sync_fx_rates", run_id=0, settings=settings, sessions=sessions, redis=redis
            )
        )


async def test_reconciliation_leaves_out_an_offering_still_without_isin(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    from dpo.db.models import Position, ReconciliationBreak
    from dpo.reconciliation.service import run_pass

    [waiting] = await _offerings(sessions, None)
    async with sessions() as session:
        session.add(
            Position(
                holder_address="0x" + "ab" * 20, offering_id=waiting, location="onchain", quantity=5
            )
        )
        await session.commit()
    await run_pass(sessions)
    await run_pass(sessions, full=True)
    async with sessions() as session:
        assert list(await session.scalars(select(ReconciliationBreak))) == []
