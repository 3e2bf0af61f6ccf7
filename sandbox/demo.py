"""`dpo up --demo`'s book: one offering held on the local chain, mirrored at the depositories.

So that `make run` shows reconciliation doing something, the demo gets:

- in PostgreSQL: an issuer, an offering whose token is the local Issuance contract, three
  investors (anvil's development accounts 1-3 as their wallets) with issued orders;
- on the local chain: the same units issued to those wallets (the listener projects them);
- at the sandbox's depositories: statements holding the same units in accounts mapped to
  those wallets (`csd_accounts`, audited as `system:demo`), except one Clearstream account
  that reports 10 units short: the one deliberate break, a `quantity_mismatch` that
  `reconcile_positions` opens and that stays open (nothing fixes it);
- a Xetra price for the offering's ISIN.

Idempotent: a second start finds the rows and balances already there and only plants the
sandbox again (its state lives in memory). Development only: production never imports it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
from sqlalchemy import select
from web3 import AsyncHTTPProvider, AsyncWeb3

from dpo.chain.artifacts import load_artifact
from dpo.db.models import Investment, Investor, InvestorWallet, Issuer, Offering
from dpo.db.models.enums import Csd
from dpo.db.session import create_engine, session_factory, unit_of_work
from dpo.services.codes import isin_check_digit
from dpo.services.csd_accounts import map_account_as

logger = logging.getLogger(__name__)

ISIN_BODY = "XS000000420"
ISIN = ISIN_BODY + str(isin_check_digit(ISIN_BODY))
ISSUER = "Demo Issuer AG"
ACTOR = "system:demo"
SHORT = 10  # units the Clearstream statement lacks: the deliberate break


@dataclass(frozen=True)
class Holder:
    """A demo investor: wallet, units, and the depository account mirroring them."""

    name: str
    wallet: str
    units: int
    csd: Csd
    account: str


# anvil's development accounts 1-3 (the default mnemonic): nobody signs with them here.
HOLDERS = (
    Holder(
        "Ada Demo", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", 1000, Csd.EUROCLEAR, "DEMO-EC-1"
    ),
    Holder(
        "Bob Demo", "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", 500, Csd.EUROCLEAR, "DEMO-EC-2"
    ),
    Holder(
        "Cyd Demo", "0x90F79bf6EB2c4f870365E785982E1f101E93b906", 250, Csd.CLEARSTREAM, "DEMO-CS-1"
    ),
)


async def _book(database_url: str, token: str) -> None:
    """Issuer, offering, investors and issued orders, unless they exist; account mappings."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            offering = await session.scalar(select(Offering).where(Offering.isin == ISIN))
            if offering is None:
                issuer = await session.scalar(select(Issuer).where(Issuer.name == ISSUER))
                offering = Offering(
                    issuer=issuer or Issuer(name=ISSUER, country="DE"),
                    isin=ISIN,
                    name="Demo Bond 2030",
                    symbol="DEMO30",
                    security_type="debt",
                    regulation="reg_s",
                    currency="EUR",
                    unit_price=Decimal(100),
                    allowed_countries=[],
                    token_address=token,
                    status="closed",
                )
                session.add(offering)
            # A chain started afresh has a new token: the offering follows it.
            offering.token_address = token
            await session.flush()
            for holder in HOLDERS:
                wallet = await session.scalar(
                    select(InvestorWallet).where(InvestorWallet.address == holder.wallet)
                )
                if wallet is None:
                    investor = Investor(full_name=holder.name, country="DE", kyc_status="approved")
                    session.add(investor)
                    await session.flush()
                    session.add(
                        InvestorWallet(
                            investor_id=investor.id, address=holder.wallet, chain_id=31337
                        )
                    )
                    investor_id = investor.id
                else:
                    investor_id = wallet.investor_id
                reference = f"DEMO-{offering.id}-{investor_id}"
                if (
                    await session.scalar(
                        select(Investment.id).where(Investment.payment_reference == reference)
                    )
                    is None
                ):
                    session.add(
                        Investment(
                            investor_id=investor_id,
                            offering_id=offering.id,
                            amount=Decimal(holder.units) * 100,
                            currency="EUR",
                            units=holder.units,
                            state="issued",
                            payment_reference=reference,
                            paid_at=datetime.now(UTC),
                            issued_at=datetime.now(UTC),
                        )
                    )
                await map_account_as(
                    session,
                    actor=ACTOR,
                    csd=holder.csd,
                    account=holder.account,
                    holder=holder.wallet,
                )
    finally:
        await engine.dispose()


async def _issue(rpc_url: str, token: str) -> None:
    """The holders' units on chain, issued by the deployer (an agent), unless they hold them."""
    provider = AsyncHTTPProvider(rpc_url)
    w3 = AsyncWeb3(provider)
    try:
        contract = w3.eth.contract(
            address=w3.to_checksum_address(token), abi=load_artifact("Issuance").abi
        )
        agent = (await w3.eth.accounts)[0]  # anvil's unlocked deployer
        for n, holder in enumerate(HOLDERS):
            wallet = w3.to_checksum_address(holder.wallet)
            if await contract.functions.balanceOf(wallet).call() >= holder.units:
                continue
            if not await contract.functions.isVerified(wallet).call():
                sent = await contract.functions.verifyInvestor(wallet).transact({"from": agent})
                await w3.eth.wait_for_transaction_receipt(sent)
            ref = (4200 + n).to_bytes(32, "big")
            sent = await contract.functions.issue(wallet, holder.units, 42, ref).transact(
                {"from": agent}
            )
            await w3.eth.wait_for_transaction_receipt(sent)
    finally:
        await provider.disconnect()


def statements() -> dict[str, dict[str, object]]:
    """The depositories' state: every holder's units, Clearstream's one line short."""
    planted: dict[str, dict[str, object]] = {}
    for csd in Csd:
        lines = [
            {
                "account": h.account,
                "isin": ISIN,
                "quantity": h.units - (SHORT if csd is Csd.CLEARSTREAM else 0),
            }
            for h in HOLDERS
            if h.csd is csd
        ]
        planted[csd.value] = {"statement_date": date.today().isoformat(), "holdings": lines}
    return planted


async def _plant(sandbox_url: str) -> None:
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as client:
        for csd, state in statements().items():
            (await client.post(f"/{csd}/_sandbox/state", json=state)).raise_for_status()
        price = {
            "isin": ISIN,
            "currency": "EUR",
            "last": "101.25",
            "asOf": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "venue": "XETR",
        }
        (await client.post("/xetra/_sandbox/state", json={"prices": [price]})).raise_for_status()


async def seed_demo(*, database_url: str, rpc_url: str, token: str, sandbox_url: str) -> None:
    """The demo's book in the database, on the chain and at the sandbox's depositories."""
    await _book(database_url, token)
    await _issue(rpc_url, token)
    await _plant(sandbox_url)
    logger.info(
        "demo book: %s held by %d investors; Clearstream reports %d units short",
        ISIN,
        len(HOLDERS),
        SHORT,
    )
