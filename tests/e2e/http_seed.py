"""The rows the HTTP role tests run against: two issuers (and a hidden one), offerings in each
state, investors with wallets, orders and ops rows, seeded in the module's own database; and
the secrets the server runs with, to mint tokens and keys it accepts.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from dpo.auth.api_keys import create_api_key
from dpo.db.models import (
    FxRate,
    Investment,
    Investor,
    InvestorWallet,
    Issuer,
    JobRun,
    Offering,
    Position,
    ReconciliationBreak,
    ReconciliationRun,
)
from dpo.db.models.enums import Role
from dpo.services.codes import isin_check_digit
from dpo.settings import Settings
from schema.relay import to_global_id
from tests.integration.api.committed import Api

SECRET = "e2e-roles-" + secrets.token_hex(24)
HMAC_SECRET = "e2e-roles-hmac-" + secrets.token_hex(24)
_serial = itertools.count(1)


def new_isin() -> str:
    """A fresh ISIN with a correct check digit."""
    body = f"XS{next(_serial):04d}{secrets.token_hex(3).upper()[:5]}"
    return body + str(isin_check_digit(body))


def hash32() -> str:
    """A random lower-case bytes32."""
    return "0x" + secrets.token_hex(32)


def settings() -> Settings:
    """The server's secrets, to mint tokens and keys the server accepts."""
    return Settings.model_validate({"DJANGO_SECRET_KEY": SECRET, "API_HMAC_SECRET": HMAC_SECRET})


@dataclass
class World:
    """Database ids (global ids in `gid`) of the seeded rows."""

    ids: dict[str, int] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)

    def gid(self, type_name: str, name: str) -> str:
        """The global id of a seeded row."""
        return str(to_global_id(type_name, self.ids[name]))


def _offering(issuer: Issuer, name: str, status: str, **extra: Any) -> Offering:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "issuer": issuer,
        "isin": new_isin(),
        "name": name,
        "symbol": name.upper()[:8],
        "security_type": "equity",
        "regulation": "reg_s",
        "currency": "EUR",
        "unit_price": Decimal(10),
        "min_ticket": Decimal(10),
        "max_ticket": Decimal(1000),
        "soft_cap": Decimal(0),
        "hard_cap": Decimal(100000),
        "opens_at": now - timedelta(days=1),
        "closes_at": now + timedelta(days=30),
        "status": status,
        "allowed_countries": [],
    }
    values.update(extra)
    return Offering(**values)


async def seed(api: Api) -> World:
    """Two issuers (and a hidden one), offerings in each state, investors, orders, ops rows."""
    world = World()
    async with api.runtime.sessions() as session, session.begin():
        acme, bolt, ghost = (
            Issuer(name="Acme", country="LU"),
            Issuer(name="Bolt"),
            Issuer(name="Ghost"),
        )
        token = "0x" + secrets.token_hex(20)
        offerings = {
            "acme_open": _offering(acme, "Acme Open", "open"),
            "acme_draft": _offering(acme, "Acme Draft", "draft"),
            "acme_settle": _offering(
                acme,
                "Acme Settle",
                "closed",
                token_address=token,
                onchain_offering_id=secrets.randbelow(2**60),
                units_sold=30,
            ),
            "acme_unsettled": _offering(
                acme,
                "Acme Unsettled",
                "closed",
                token_address=token,
                onchain_offering_id=secrets.randbelow(2**60),
            ),
            "bolt_open": _offering(bolt, "Bolt Open", "open"),
            "bolt_draft": _offering(bolt, "Bolt Draft", "draft"),
            "ghost_draft": _offering(ghost, "Ghost Draft", "draft"),
        }
        investors = {
            "investor": Investor(
                full_name="Ada",
                email=f"ada{secrets.token_hex(4)}@example.com",
                country="DE",
                kyc_status="approved",
            ),
            "other_investor": Investor(
                full_name="Bob",
                email=f"bob{secrets.token_hex(4)}@example.com",
                country="FR",
                kyc_status="approved",
            ),
            "pending_investor": Investor(
                full_name="Cy",
                country="GB",
                kyc_status="pending",
                email=f"cy{secrets.token_hex(4)}@example.com",
            ),
        }
        session.add_all([*offerings.values(), *investors.values()])
        await session.flush()
        for name, investor in investors.items():
            address = "0x" + secrets.token_hex(20)
            world.addresses[name] = address
            session.add(InvestorWallet(investor_id=investor.id, address=address, chain_id=31337))
        world.addresses["new_wallet"] = "0x" + secrets.token_hex(20)
        orders = {
            "order": Investment(
                investor_id=investors["investor"].id,
                offering_id=offerings["acme_open"].id,
                amount=Decimal(100),
                currency="EUR",
                units=10,
                payment_reference="DPO-E2E-0001",
            ),
            "other_order": Investment(
                investor_id=investors["other_investor"].id,
                offering_id=offerings["bolt_open"].id,
                amount=Decimal(50),
                currency="EUR",
                units=5,
                payment_reference="DPO-E2E-0002",
                tx_hash=hash32(),
            ),
            "issued": Investment(
                investor_id=investors["investor"].id,
                offering_id=offerings["acme_settle"].id,
                amount=Decimal(300),
                currency="EUR",
                units=30,
                state="issued",
                payment_reference="DPO-E2E-0003",
                onchain_reference=hash32(),
                tx_hash=hash32(),
                issued_at=datetime.now(UTC),
            ),
            "paid": Investment(
                investor_id=investors["other_investor"].id,
                offering_id=offerings["acme_unsettled"].id,
                amount=Decimal(20),
                currency="EUR",
                units=2,
                state="paid",
                payment_reference="DPO-E2E-0004",
                onchain_reference=hash32(),
                tx_hash=hash32(),
            ),
        }
        session.add_all(orders.values())
        positions = {
            "position": Position(
                holder_address=world.addresses["investor"],
                offering_id=offerings["acme_settle"].id,
                location="onchain",
                investor_id=investors["investor"].id,
                quantity=30,
            ),
            "other_position": Position(
                holder_address=world.addresses["other_investor"],
                offering_id=offerings["bolt_open"].id,
                location="ledger",
                investor_id=investors["other_investor"].id,
                quantity=5,
            ),
        }
        session.add_all(positions.values())
        run = ReconciliationRun()
        session.add(run)
        await session.flush()
        breaks = {
            name: ReconciliationBreak(
                run_id=run.id,
                isin=offerings["acme_settle"].isin,
                holder=holder,
                ledger_qty=30,
                chain_qty=29,
                difference=1,
                kind="quantity_mismatch",
            )
            for name, holder in (
                ("break", world.addresses["investor"]),
                ("other_break", world.addresses["other_investor"]),
            )
        }
        session.add_all(breaks.values())
        session.add(
            JobRun(
                job="fx_rates",
                status="succeeded",
                finished_at=datetime.now(UTC),
                counts={"rates": 1},
            )
        )
        session.add(
            FxRate(base="EUR", quote="USD", rate=Decimal("1.08"), as_of=date.today(), source="ecb")
        )
        await session.flush()
        for group in (offerings, investors, orders, positions, breaks):
            world.ids.update({name: row.id for name, row in group.items()})
        world.ids.update(acme=acme.id, bolt=bolt.id, ghost=ghost.id)
    async with api.runtime.sessions() as session, session.begin():
        key, _ = await create_api_key(session, name="e2e roles", role=Role.OPS, settings=settings())
    world.addresses["api_key"] = key
    return world
