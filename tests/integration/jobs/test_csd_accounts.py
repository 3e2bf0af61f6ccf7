"""CSD account mappings: set through the API, used by sync_csd and reconciliation, audited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from dpo.auth.principal import ANONYMOUS, Principal
from dpo.db.models import AuditLog, CsdAccount, Investor
from dpo.db.session import unit_of_work
from dpo.providers.breaker import Breakers
from dpo.providers.factory import Providers
from dpo.reconciliation.service import run_pass
from dpo.services.csd_sync import sync_csd
from sandbox.server import Sandbox
from schema.relay import to_global_id
from tests.integration.api.committed import Api, committed_api
from tests.integration.jobs.world import World, address
from tests.integration.providers.conftest import settings_for
from tests.integration.services.support import admin, issuer_staff, ops, wallet

MAP = """mutation($csd: CsdName!, $account: String!, $holder: Address, $investor: ID) {
  mapCsdAccount(csd: $csd, account: $account, holder: $holder, investorId: $investor) {
    changed mapping { csd account holder } } }"""
UNMAP = """mutation($csd: CsdName!, $account: String!) {
  unmapCsdAccount(csd: $csd, account: $account) { account holder } }"""
LIST = """query($csd: CsdName, $first: Int, $after: String) {
  csdAccounts(csd: $csd, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { csd account holder } } } }"""


@pytest.fixture
async def api(pg_server_url: str) -> AsyncIterator[Api]:
    """A database of this test's own: a reconciliation pass looks at every row in it."""
    async with committed_api(pg_server_url) as made:
        yield made


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    server = Sandbox().start()
    yield server
    server.stop()


def codes(result: dict[str, Any]) -> list[str]:
    return [str(e["code"]) for e in result["errors"]]


async def audit_count(api: Api) -> int:
    async with api.runtime.sessions() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.entity_type == "csd_account")
            )
            or 0
        )


async def test_a_mapped_account_reconciles_clean_an_unmapped_one_is_reported(
    api: Api, sandbox: Sandbox
) -> None:
    world = World(api.runtime.sessions)
    offering = await world.offering()
    assert offering.isin is not None
    mapped_holder, unmapped_holder = address(), address()
    for holder in (mapped_holder, unmapped_holder):
        await world.ledger(offering, holder, 100)
        await world.chain(offering, holder, 100)
    investor = await world.investor_of(mapped_holder)
    sandbox.world.reset()
    sandbox.world.euroclear.plant(
        {
            "holdings": [
                {"account": "EC-MAPPED", "isin": offering.isin, "quantity": 100},
                {"account": "EC-UNMAPPED", "isin": offering.isin, "quantity": 100},
            ]
        }
    )
    settings = settings_for(sandbox)
    providers = Providers.from_settings(settings, breakers=Breakers(threshold=3, reset_seconds=1))
    try:
        synced = await sync_csd(api.runtime.sessions, [providers.euroclear])
        assert synced.counts()["unmapped_accounts"] == {"euroclear": 2}

        # Mapped to the investor: their first wallet, where the ledger books their units.
        answer = await api.run(
            MAP,
            ops(),
            csd="EUROCLEAR",
            account="EC-MAPPED",
            investor=to_global_id("Investor", investor),
        )
        assert answer["errors"] == []
        mapping = answer["data"]["mapCsdAccount"]
        assert mapping["changed"] is True
        assert mapping["mapping"]["holder"].lower() == mapped_holder
        synced = await sync_csd(api.runtime.sessions, [providers.euroclear])
        assert synced.counts()["unmapped_accounts"] == {"euroclear": 1}
    finally:
        await providers.aclose()

    await run_pass(api.runtime.sessions)
    i = offering.isin
    assert await world.breaks() == {
        # The unmapped account is its own holder: nothing booked to it...
        (i, "euroclear:EC-UNMAPPED"): ("missing_in_ledger", None, None, 100, 100),
        # ...and its real holder's units are not seen at the CSD.
        (i, unmapped_holder.lower()): ("missing_at_csd", 100, 100, None, -100),
    }
    # Mapping the second account too closes both breaks; the mapped one never had any.
    answer = await api.run(
        MAP, admin(), csd="EUROCLEAR", account="EC-UNMAPPED", holder=unmapped_holder
    )
    assert answer["data"]["mapCsdAccount"]["changed"] is True
    fixed = await run_pass(api.runtime.sessions)
    assert (fixed.breaks_opened, fixed.breaks_resolved) == (0, 2)
    assert await world.breaks() == {}


async def test_mapping_is_idempotent_audited_and_validated(api: Api) -> None:
    world = World(api.runtime.sessions)
    offering = await world.offering()
    first, second = address(), address()
    await world.ledger(offering, first, 1)
    assert await audit_count(api) == 0
    answer = await api.run(MAP, ops(), csd="CLEARSTREAM", account="CS 1", holder=first)
    assert answer["data"]["mapCsdAccount"]["changed"] is True
    assert await audit_count(api) == 1
    # The same again (any letter case): nothing changes, nothing is audited.
    again = await api.run(
        MAP, ops(), csd="CLEARSTREAM", account="CS 1", holder=first.upper().replace("0X", "0x")
    )
    assert again["data"]["mapCsdAccount"]["changed"] is False
    assert await audit_count(api) == 1
    # Another holder replaces the old one, audited with both.
    moved = await api.run(MAP, admin(), csd="CLEARSTREAM", account="CS 1", holder=second)
    assert moved["data"]["mapCsdAccount"]["changed"] is True
    async with api.runtime.sessions() as session:
        row = (
            await session.scalars(
                select(AuditLog)
                .where(AuditLog.entity_type == "csd_account")
                .order_by(AuditLog.id.desc())
            )
        ).first()
        assert row is not None
        assert (row.action, row.entity_id, row.actor) == (
            "csd_account.map",
            "clearstream:CS 1",
            admin().actor,
        )
        assert (row.before or {})["holder_address"].lower() == first
        assert (row.after or {})["holder_address"].lower() == second

    refused = {
        "no holder": {"csd": "EUROCLEAR", "account": "A"},
        "both": {
            "csd": "EUROCLEAR",
            "account": "A",
            "holder": first,
            "investor": to_global_id("Investor", 1),
        },
        "empty account": {"csd": "EUROCLEAR", "account": "", "holder": first},
        "long account": {"csd": "EUROCLEAR", "account": "A" * 36, "holder": first},
        "blank edge": {"csd": "EUROCLEAR", "account": " A", "holder": first},
        "control": {"csd": "EUROCLEAR", "account": "A\x00B", "holder": first},
        "unicode": {"csd": "EUROCLEAR", "account": "Ä", "holder": first},
        "forged investor": {"csd": "EUROCLEAR", "account": "A", "investor": "bm9wZQ=="},
        "investor of another type": {
            "csd": "EUROCLEAR",
            "account": "A",
            "investor": to_global_id("Offering", 1),
        },
    }
    for name, variables in refused.items():
        result = await api.run(MAP, ops(), **variables)
        assert codes(result) == ["VALIDATION"], (name, result)
    for variables in (
        {"csd": "NASDAQ", "account": "A", "holder": first},
        {"csd": "EUROCLEAR", "account": "A", "holder": "0x12"},
    ):
        assert (await api.run(MAP, ops(), **variables))["errors"], variables
    missing = await api.run(
        MAP, ops(), csd="EUROCLEAR", account="A", investor=to_global_id("Investor", 10**12)
    )
    assert codes(missing) == ["NOT_FOUND"]
    async with unit_of_work(api.runtime.sessions) as session:
        walletless = Investor(full_name="No Wallet", country="CH")
        session.add(walletless)
        await session.flush()
    nowhere = await api.run(
        MAP, ops(), csd="EUROCLEAR", account="A", investor=to_global_id("Investor", walletless.id)
    )
    assert codes(nowhere) == ["VALIDATION"]
    async with api.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(CsdAccount)) == 1
    principals: tuple[tuple[Principal, str], ...] = (
        (ANONYMOUS, "UNAUTHENTICATED"),
        (wallet(first), "FORBIDDEN"),
        (issuer_staff(offering.issuer_id), "FORBIDDEN"),
    )
    for principal, code in principals:
        result = await api.run(MAP, principal, csd="EUROCLEAR", account="B", holder=first)
        assert codes(result) == [code]
        assert codes(await api.run(LIST, principal)) == [code]
    assert await audit_count(api) == 2


async def test_concurrent_first_mappings_insert_once_and_unmap(api: Api) -> None:
    holder = address()
    results = await asyncio.gather(
        *(api.run(MAP, ops(), csd="EUROCLEAR", account="RACE", holder=holder) for _ in range(8))
    )
    assert all(r["errors"] == [] for r in results), results
    assert sum(r["data"]["mapCsdAccount"]["changed"] for r in results) == 1
    assert await audit_count(api) == 1
    for n in range(3):
        await api.run(MAP, ops(), csd="CLEARSTREAM", account=f"P{n}", holder=holder)
    page = (await api.run(LIST, ops(), first=2))["data"]["csdAccounts"]
    assert page["totalCount"] == 4
    assert [e["node"]["account"] for e in page["edges"]] == ["P0", "P1"]
    rest = await api.run(LIST, ops(), first=2, after=page["pageInfo"]["endCursor"])
    assert [e["node"]["account"] for e in rest["data"]["csdAccounts"]["edges"]] == ["P2", "RACE"]
    only = (await api.run(LIST, admin(), csd="EUROCLEAR"))["data"]["csdAccounts"]
    assert only["totalCount"] == 1
    gone = await api.run(UNMAP, ops(), csd="EUROCLEAR", account="RACE")
    assert gone["data"]["unmapCsdAccount"]["account"] == "RACE"
    assert codes(await api.run(UNMAP, ops(), csd="EUROCLEAR", account="RACE")) == ["NOT_FOUND"]
    assert await audit_count(api) == 5
