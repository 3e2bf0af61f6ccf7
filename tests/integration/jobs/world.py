"""Plant ledger, chain, CSD and event rows for reconciliation tests, committed."""

from __future__ import annotations

import itertools
import secrets
from datetime import date
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.db.feed import next_feed_sequences
from dpo.db.models import (
    ChainEvent,
    CsdAccount,
    Investment,
    Investor,
    InvestorWallet,
    Issuer,
    Offering,
    Position,
    ReconciliationBreak,
)
from dpo.db.session import unit_of_work

_counter = itertools.count(1)
ZERO = "0x" + "00" * 20


def address() -> str:
    return "0x" + secrets.token_hex(20)


def isin() -> str:
    return f"XS{secrets.randbelow(10**9):09d}{next(_counter) % 10}"


class World:
    """A committed database to plant positions in, location by location."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def offering(self) -> Offering:
        async with unit_of_work(self.sessions) as session:
            row = Offering(
                issuer=Issuer(name="Acme AG", country="CH"),
                isin=isin(),
                name="Acme A",
                symbol="ACME",
                security_type="equity",
                regulation="reg_s",
                currency="EUR",
                unit_price=Decimal(10),
                allowed_countries=["CH"],
                token_address=address(),
            )
            session.add(row)
        return row

    async def ledger(self, offering: Offering, holder: str, units: int) -> None:
        """An investor whose first wallet is `holder`, with an issued investment."""
        async with unit_of_work(self.sessions) as session:
            investor = Investor(full_name="Holder", country="CH")
            session.add(investor)
            await session.flush()
            session.add(InvestorWallet(investor_id=investor.id, address=holder, chain_id=31337))
            await self.issue(session, offering, investor.id, units)

    async def issue(
        self, session: AsyncSession, offering: Offering, investor_id: int, units: int
    ) -> None:
        session.add(
            Investment(
                investor_id=investor_id,
                offering_id=offering.id,
                amount=Decimal(units),
                currency="EUR",
                units=units,
                state="issued",
                payment_reference=f"P-{secrets.token_hex(8)}",
            )
        )

    async def investor_of(self, holder: str) -> int:
        async with self.sessions() as session:
            found = await session.scalar(
                select(InvestorWallet.investor_id).where(InvestorWallet.address == holder)
            )
        assert found is not None
        return int(found)

    async def chain(self, offering: Offering, holder: str, quantity: int, frozen: int = 0) -> None:
        """The listener's projection of `holder`'s on-chain position."""
        async with unit_of_work(self.sessions) as session:
            await session.execute(
                text(
                    "INSERT INTO positions (holder_address, offering_id, location, quantity, "
                    "frozen_quantity) VALUES (:h, :o, 'onchain', :q, :f) "
                    "ON CONFLICT (holder_address, offering_id, location) DO UPDATE SET "
                    "quantity = excluded.quantity, frozen_quantity = excluded.frozen_quantity"
                ),
                {"h": holder, "o": offering.id, "q": quantity, "f": frozen},
            )

    async def csd(
        self,
        offering: Offering,
        account: str,
        quantity: int,
        *,
        holder: str | None = None,
        csd: str = "euroclear",
        day: date = date(2026, 12, 1),
    ) -> None:
        """A statement line, and the account's holder when given."""
        async with unit_of_work(self.sessions) as session:
            if holder is not None:
                await session.merge(CsdAccount(csd=csd, account=account, holder_address=holder))
            await session.execute(
                text(
                    "INSERT INTO csd_holdings (csd, account, isin, quantity, statement_date) "
                    "VALUES (:c, :a, :i, :q, :d) ON CONFLICT (csd, account, isin, statement_date) "
                    "DO UPDATE SET quantity = excluded.quantity"
                ),
                {"c": csd, "a": account, "i": offering.isin, "q": quantity, "d": day},
            )

    async def events(self, offering: Offering, *logs: tuple[str, dict[str, str]]) -> None:
        """Live Issuance events of the offering's token, in the feed."""
        assert offering.token_address is not None
        async with unit_of_work(self.sessions) as session:
            ids = await next_feed_sequences(session, len(logs))
            session.add_all(
                [
                    ChainEvent(
                        id=event_id,
                        chain_id=31337,
                        contract_address=offering.token_address,
                        contract_name="Issuance",
                        event_name=name,
                        block_number=event_id,
                        block_hash="0x" + secrets.token_hex(32),
                        tx_hash="0x" + secrets.token_hex(32),
                        tx_index=0,
                        log_index=0,
                        args=args,
                    )
                    for event_id, (name, args) in zip(ids, logs, strict=True)
                ]
            )

    async def breaks(
        self, *, status: str | None = "open"
    ) -> dict[tuple[str, str], tuple[str, int | None, int | None, int | None, int]]:
        """(isin, holder) -> (kind, ledger, chain, csd, difference) of breaks of a status."""
        async with self.sessions() as session:
            query = select(ReconciliationBreak)
            if status is not None:
                query = query.where(ReconciliationBreak.status == status)
            rows = (await session.scalars(query)).all()
        return {
            (r.isin, r.holder): (r.kind, r.ledger_qty, r.chain_qty, r.csd_qty, r.difference)
            for r in rows
        }


def mint(to: str, value: int) -> tuple[str, dict[str, str]]:
    return ("Transfer", {"from": ZERO, "to": to, "value": str(value)})


def freeze(user: str, amount: int) -> tuple[str, dict[str, str]]:
    return ("TokensFrozen", {"userAddress": user, "amount": str(amount)})


__all__ = ["Position", "World", "address", "freeze", "mint"]
