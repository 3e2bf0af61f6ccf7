"""reconcile_positions on a real PostgreSQL: every kind of break found, updated and closed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from dpo.db.models import ReconciliationBreak, ReconciliationRun
from dpo.db.session import unit_of_work
from dpo.reconciliation.service import ACTOR, run_pass
from tests.integration.api.committed import Api, committed_api
from tests.integration.jobs.world import World, address, freeze, mint


@pytest.fixture
async def world(pg_server_url: str) -> AsyncIterator[World]:
    """A database of this test's own: a pass looks at every row in it."""
    async with committed_api(pg_server_url) as api:
        yield World(api.runtime.sessions)


async def test_every_kind_is_found_then_closed_once_fixed(world: World) -> None:
    mirrored, local = await world.offering(), await world.offering()
    ok, short, csd_short, unissued, unbooked, unmirrored = (address() for _ in range(6))
    for holder, ledger, chain, csd in (
        (ok, 100, 100, 100),
        (short, 100, 90, 90),
        (csd_short, 50, 50, 40),
        (unissued, 70, None, None),
        (unbooked, None, 30, 30),
        (unmirrored, 20, 20, None),
    ):
        if ledger is not None:
            await world.ledger(mirrored, holder, ledger)
        if chain is not None:
            await world.chain(mirrored, holder, chain)
        if csd is not None:
            await world.csd(mirrored, f"ACC-{holder[2:10]}", csd, holder=holder)
    await world.csd(mirrored, "STRAY-1", 5)  # an account no holder is mapped to
    local_holder = address()
    await world.ledger(local, local_holder, 10)
    await world.chain(local, local_holder, 10)  # not mirrored at any CSD: no CSD check

    first = await run_pass(world.sessions)
    i = mirrored.isin
    assert i is not None
    expected = {
        (i, short): ("quantity_mismatch", 100, 90, 90, -10),
        (i, csd_short): ("quantity_mismatch", 50, 50, 40, -10),
        (i, unissued): ("missing_on_chain", 70, None, None, -70),
        (i, unbooked): ("missing_in_ledger", None, 30, 30, 30),
        (i, unmirrored): ("missing_at_csd", 20, 20, None, -20),
        (i, "euroclear:STRAY-1"): ("missing_in_ledger", None, None, 5, 5),
    }
    assert await world.breaks() == expected
    assert (first.positions_checked, first.breaks_opened, first.breaks_resolved) == (8, 6, 0)

    # A repeat changes nothing: same breaks, none rewritten.
    async with world.sessions() as session:
        revisions = dict(
            (
                await session.execute(select(ReconciliationBreak.id, ReconciliationBreak.revision))
            ).all()
        )
    again = await run_pass(world.sessions)
    assert (again.breaks_opened, again.breaks_updated, again.breaks_resolved) == (0, 0, 0)
    async with world.sessions() as session:
        assert (
            dict(
                (
                    await session.execute(
                        select(ReconciliationBreak.id, ReconciliationBreak.revision)
                    )
                ).all()
            )
            == revisions
        )

    # Fix one, change another's kind: the fixed one closes; a changed kind closes the old
    # break and opens a new one.
    await world.chain(mirrored, short, 100)
    await world.csd(mirrored, f"ACC-{short[2:10]}", 100, holder=short)
    async with unit_of_work(world.sessions) as session:
        await world.issue(session, mirrored, await world.investor_of(unmirrored), 1)
    fixed = await run_pass(world.sessions)
    assert (fixed.breaks_opened, fixed.breaks_updated, fixed.breaks_resolved) == (1, 0, 2)
    expected.pop((i, short))
    expected[(i, unmirrored)] = ("quantity_mismatch", 21, 20, None, -1)
    # missing_at_csd gave way to a quantity mismatch: the old kind closed, the new one opened.
    assert await world.breaks() == expected
    closed = await world.breaks(status="resolved")
    assert (closed[(i, short)][0], closed[(i, unmirrored)][0]) == (
        "quantity_mismatch",
        "missing_at_csd",
    )
    # Figures that change under the same kind update the open break in place.
    await world.chain(mirrored, unbooked, 31)
    changed = await run_pass(world.sessions)
    assert (changed.breaks_opened, changed.breaks_updated, changed.breaks_resolved) == (0, 1, 0)
    expected[(i, unbooked)] = ("missing_in_ledger", None, 31, 30, 31)
    assert await world.breaks() == expected
    async with world.sessions() as session:
        resolved_by = set(
            (
                await session.scalars(
                    select(ReconciliationBreak.resolved_by).where(
                        ReconciliationBreak.status == "resolved"
                    )
                )
            ).all()
        )
        runs = (await session.scalars(select(ReconciliationRun.status))).all()
    assert resolved_by == {ACTOR}
    assert list(runs) == ["succeeded"] * 4


async def test_a_break_ops_ignored_stays_ignored_until_its_figures_change(world: World) -> None:
    offering, holder = await world.offering(), address()
    await world.ledger(offering, holder, 10)
    await world.chain(offering, holder, 9)
    await run_pass(world.sessions)
    async with unit_of_work(world.sessions) as session:
        row = await session.scalar(select(ReconciliationBreak))
        assert row is not None
        row.status, row.resolved_by, row.resolved_at, row.note = (
            "ignored",
            "user:1",
            func.now(),
            "dust",
        )
    assert (await run_pass(world.sessions)).breaks_opened == 0
    await world.chain(offering, holder, 8)
    assert (await run_pass(world.sessions)).breaks_opened == 1


async def test_full_finds_a_projection_planted_wrong(world: World) -> None:
    offering, alice, bob = await world.offering(), address(), address()
    await world.events(offering, mint(alice, 100), mint(bob, 50), freeze(bob, 20))
    for holder, quantity, frozen in ((alice, 100, 0), (bob, 50, 20)):
        await world.ledger(offering, holder, quantity)
        await world.chain(offering, holder, quantity, frozen)
    clean = await run_pass(world.sessions, full=True)
    assert (clean.breaks_found, clean.projections_checked) == (0, 2)
    await world.chain(offering, alice, 90)  # the projection lost 10
    await world.chain(offering, bob, 50, frozen=5)  # and forgot a freeze
    await world.ledger(offering, address(), 1)  # unrelated: missing on chain
    regular = await run_pass(world.sessions)
    assert {kind for kind, *_ in (await world.breaks()).values()} == {
        "quantity_mismatch",
        "missing_on_chain",
    }
    assert regular.projections_checked == 0
    await run_pass(world.sessions, full=True)
    found = await world.breaks()
    i = offering.isin
    assert i is not None
    assert found[(i, alice)] == ("quantity_mismatch", 100, 90, None, -10)
    projection = {
        key: value
        for key, value in (await _by_kind(world)).items()
        if key[2] in {"projection_mismatch", "frozen_mismatch"}
    }
    assert projection == {
        (i, alice, "projection_mismatch"): (None, 90, None, 10),
        (i, bob, "frozen_mismatch"): (None, 5, None, 15),
    }
    # A regular pass leaves the projection breaks alone; a full pass closes them once fixed.
    await run_pass(world.sessions)
    assert len(await _by_kind(world)) == 4
    await world.chain(offering, alice, 100)
    await world.chain(offering, bob, 50, frozen=20)
    result = await run_pass(world.sessions, full=True)
    assert result.breaks_resolved == 3
    assert set(await _by_kind(world)) == {
        (
            i,
            next(iter(h for (_, h), v in found.items() if v[0] == "missing_on_chain")),
            "missing_on_chain",
        )
    }


async def _by_kind(
    world: World,
) -> dict[tuple[str, str, str], tuple[int | None, int | None, int | None, int]]:
    async with world.sessions() as session:
        rows = (
            await session.scalars(
                select(ReconciliationBreak).where(ReconciliationBreak.status == "open")
            )
        ).all()
    return {
        (r.isin, r.holder, r.kind): (r.ledger_qty, r.chain_qty, r.csd_qty, r.difference)
        for r in rows
    }


__all__ = ["Api"]
