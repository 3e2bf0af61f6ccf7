"""`dpo csd map|unmap|list`: which holder each CSD safekeeping account belongs to.

The operator's way (beside the `mapCsdAccount` mutation) to tell reconciliation whose
position a depository account carries; every change is audited as `system:cli`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from app.cli.common import settings
from dpo.embedded.stack import ensure_services

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

CSDS = ("euroclear", "clearstream")  # spelled out so `dpo --help` needs no ORM import
ACTOR = "system:cli"


@click.group("csd")
def csd() -> None:
    """CSD safekeeping accounts and the holders they are mapped to."""


async def _in_transaction(database_url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from dpo.db.session import create_engine, session_factory, unit_of_work

    engine = create_engine(database_url, pool_size=1)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()


def _run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from dpo.errors import DomainError

    services = ensure_services(settings())
    try:
        return asyncio.run(_in_transaction(services.database_url, work))
    except DomainError as error:
        click.echo(f"dpo csd: {error.message}", err=True)
        sys.exit(1)
    finally:
        services.stop()


@csd.command("map")
@click.argument("depository", type=click.Choice(CSDS))
@click.argument("account")
@click.option("--holder", default=None, help="The holder's chain address.")
@click.option(
    "--investor-id",
    type=click.IntRange(min=1, max=2**63 - 1),
    default=None,
    help="The investor (their first wallet, where the ledger books their units).",
)
def map_command(depository: str, account: str, holder: str | None, investor_id: int | None) -> None:
    """Map ACCOUNT at DEPOSITORY to a holder (idempotent)."""
    from dpo.db.models.enums import Csd
    from dpo.services.csd_accounts import Mapped, map_account_as

    async def work(session: AsyncSession) -> Mapped:
        return await map_account_as(
            session,
            actor=ACTOR,
            csd=Csd(depository),
            account=account,
            holder=holder,
            investor_id=investor_id,
        )

    mapped = _run(work)
    state = "mapped" if mapped.changed else "already mapped"
    click.echo(f"{depository} {account} {state} to {mapped.row.holder_address}")


@csd.command("unmap")
@click.argument("depository", type=click.Choice(CSDS))
@click.argument("account")
def unmap_command(depository: str, account: str) -> None:
    """Remove ACCOUNT's mapping at DEPOSITORY."""
    from dpo.db.models.enums import Csd
    from dpo.services.csd_accounts import unmap_account_as

    async def work(session: AsyncSession) -> object:
        return await unmap_account_as(session, actor=ACTOR, csd=Csd(depository), account=account)

    _run(work)
    click.echo(f"{depository} {account} unmapped")


@csd.command("list")
def list_command() -> None:
    """Every mapping, one per line: depository, account, holder."""
    from sqlalchemy import select

    from dpo.db.models import CsdAccount

    async def work(session: AsyncSession) -> list[Any]:
        query = select(CsdAccount.csd, CsdAccount.account, CsdAccount.holder_address)
        return list(
            (await session.execute(query.order_by(CsdAccount.csd, CsdAccount.account))).all()
        )

    for row in _run(work):
        click.echo("\t".join(row))
