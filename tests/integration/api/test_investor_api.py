"""Investors and investments through the GraphQL schema: each role's allowed and refused paths."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from dpo.auth.principal import ANONYMOUS
from dpo.db.models import AuditLog, Investment, Investor
from schema.relay import to_global_id
from tests.integration.api.conftest import Execute, code
from tests.integration.services.support import (
    address,
    admin,
    issuer_staff,
    make_investor,
    make_offering,
    ops,
    wallet,
)

REGISTER = """
mutation($input: RegisterInvestorInput!) {
  registerInvestor(input: $input) { id fullName country kycStatus isUsPerson }
}"""
ME = "{ me { id email kycStatus accreditationStatus } }"
INVESTOR = "query($id: ID!) { investor(id: $id) { id fullName email } }"
INVESTORS = "{ investors(first: 10) { totalCount edges { node { id } } } }"
SUBMIT = """
mutation($input: SubmitInvestmentInput!) {
  submitInvestment(input: $input) {
    id state amount currency units paymentReference offeringId investorId createdAt
  }
}"""
CANCEL = "mutation($id: ID!) { cancelInvestment(id: $id) { id state } }"
INVESTMENTS = "{ investments(first: 10) { totalCount edges { cursor node { id amount } } } }"


def gid(type_name: str, db_id: int) -> str:
    return str(to_global_id(type_name, db_id))


async def _rows(db: AsyncSession, model: type) -> int:
    return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_register_then_me(gql: Execute, db: AsyncSession) -> None:
    addr = address()
    profile = {
        "fullName": "Grace Hopper",
        "email": f"{addr[2:10]}@example.com",
        "country": "US",
        "isUsPerson": True,
    }
    result = await gql(REGISTER, wallet(addr), input=profile)
    assert result["errors"] == []
    registered = result["data"]["registerInvestor"]
    assert registered["kycStatus"] == "PENDING"
    assert registered["country"] == "US"
    # Signed in again, the wallet's token carries the investor id.
    investor_id = await db.scalar(select(Investor.id).where(Investor.email == profile["email"]))
    assert investor_id is not None
    me = await gql(ME, wallet(addr, investor_id))
    assert me["data"]["me"]["id"] == registered["id"]
    assert (await gql(ME, wallet(address())))["data"] == {"me": None}
    assert code(await gql(ME)) == "UNAUTHENTICATED"
    # Refusals change nothing.
    before = await _rows(db, Investor)
    assert code(await gql(REGISTER, wallet(addr), input=profile)) == "CONFLICT"
    assert code(await gql(REGISTER, ANONYMOUS, input=profile)) == "UNAUTHENTICATED"
    assert code(await gql(REGISTER, admin(), input=profile)) == "FORBIDDEN"
    bad = {**profile, "email": "nope"}
    assert code(await gql(REGISTER, wallet(address()), input=bad)) == "VALIDATION"
    assert await _rows(db, Investor) == before


async def test_reading_investors_by_role(gql: Execute, db: AsyncSession) -> None:
    alice, alice_p = await make_investor(db)
    bob, bob_p = await make_investor(db)
    offering = await make_offering(db)
    db.add(
        Investment(
            investor_id=alice.id,
            offering_id=offering.id,
            amount=Decimal("100"),
            currency="USD",
            units=10,
            payment_reference=f"T-{alice.id}",
        )
    )
    await db.flush()
    own = await gql(INVESTOR, alice_p, id=gid("Investor", alice.id))
    assert own["data"]["investor"]["email"] == alice.email
    other = await gql(INVESTOR, alice_p, id=gid("Investor", bob.id))
    assert code(other) == "FORBIDDEN"
    assert other["data"] is None
    assert code(await gql(INVESTOR, ANONYMOUS, id=gid("Investor", bob.id))) == "UNAUTHENTICATED"
    assert code(await gql(INVESTOR, admin(), id=gid("Investor", 10**12))) == "NOT_FOUND"
    assert code(await gql(INVESTOR, admin(), id="garbage")) == "VALIDATION"
    assert code(await gql(INVESTOR, admin(), id=gid("Investment", bob.id))) == "VALIDATION"
    issuer = await gql(INVESTORS, issuer_staff(offering.issuer_id))
    assert issuer["data"]["investors"]["totalCount"] == 1
    assert [e["node"]["id"] for e in issuer["data"]["investors"]["edges"]] == [
        gid("Investor", alice.id)
    ]
    mine = await gql(INVESTORS, bob_p)
    assert mine["data"]["investors"]["totalCount"] == 1
    node = "query($id: ID!) { node(id: $id) { id ... on Investor { email } } }"
    assert (await gql(node, bob_p, id=gid("Investor", alice.id)))["data"] == {"node": None}
    seen = await gql(node, ops(), id=gid("Investor", alice.id))
    assert seen["data"]["node"]["email"] == alice.email


async def test_profile_kyc_and_accreditation_mutations(gql: Execute, db: AsyncSession) -> None:
    investor, me = await make_investor(db, kyc_status="pending")
    target = gid("Investor", investor.id)
    update = 'mutation { updateProfile(input: {fullName: "Ada King"}) { fullName } }'
    assert (await gql(update, me))["data"]["updateProfile"]["fullName"] == "Ada King"
    assert code(await gql(update, admin())) == "FORBIDDEN"
    approve = "mutation($id: ID!) { approveKyc(investorId: $id) { kycStatus } }"
    assert code(await gql(approve, me, id=target)) == "FORBIDDEN"
    assert code(await gql(approve, issuer_staff(1), id=target)) == "FORBIDDEN"
    assert code(await gql(approve, ANONYMOUS, id=target)) == "UNAUTHENTICATED"
    approved = await gql(approve, admin(), id=target)
    assert approved["data"]["approveKyc"]["kycStatus"] == "APPROVED"
    assert code(await gql(approve, admin(), id=target)) == "CONFLICT"
    accredit = """mutation($id: ID!, $at: DateTime) {
      setAccreditation(investorId: $id, status: VERIFIED, expiresAt: $at) {
        accreditationStatus accreditationExpiresAt } }"""
    assert code(await gql(accredit, admin(), id=target, at=None)) == "VALIDATION"
    assert code(await gql(accredit, admin(), id=target, at="tomorrow")) == "VALIDATION"
    done = await gql(accredit, admin(), id=target, at="2099-01-01T00:00:00Z")
    assert done["data"]["setAccreditation"] == {
        "accreditationStatus": "VERIFIED",
        "accreditationExpiresAt": "2099-01-01T00:00:00Z",
    }
    actions = await db.scalars(
        select(AuditLog.action).where(
            AuditLog.entity_type == "investor", AuditLog.entity_id == str(investor.id)
        )
    )
    assert sorted(actions.all()) == [
        "investor.accreditation",
        "investor.kyc",
        "investor.update_profile",
    ]


async def test_submit_and_cancel_investment(gql: Execute, db: AsyncSession) -> None:
    offering = await make_offering(db)
    closed = await make_offering(db, status="closed")
    investor, me = await make_investor(db)
    _, pending = await make_investor(db, kyc_status="pending")
    _, other = await make_investor(db)
    order = {"offeringId": gid("Offering", offering.id), "amount": "1250.00", "currency": "usd"}
    placed = await gql(SUBMIT, me, input=order)
    assert placed["errors"] == []
    made = placed["data"]["submitInvestment"]
    assert made["state"] == "PENDING_PAYMENT"
    assert made["amount"] == "1250"
    assert made["units"] == "125"
    assert made["currency"] == "USD"
    assert made["investorId"] == gid("Investor", investor.id)
    assert made["createdAt"].endswith("Z")
    before = await _rows(db, Investment)
    refusals = [
        (me, {**order, "amount": "1255"}, "VALIDATION", "fractional_units"),
        (me, {**order, "offeringId": gid("Offering", closed.id)}, "CONFLICT", "offering_not_open"),
        (pending, order, "FORBIDDEN", "kyc_not_approved"),
        (wallet(address()), order, "FORBIDDEN", "not_registered"),
        (ANONYMOUS, order, "UNAUTHENTICATED", None),
    ]
    for principal, payload, expected, reason in refusals:
        result = await gql(SUBMIT, principal, input=payload)
        assert code(result) == expected, (payload, result)
        assert result["errors"][0].get("reason") == reason
    for garbage in (
        {**order, "amount": "1e3"},
        {**order, "amount": 1000},
        {**order, "currency": "XXY"},
        {**order, "offeringId": "nope"},
    ):
        assert code(await gql(SUBMIT, me, input=garbage)) == "VALIDATION"
    assert await _rows(db, Investment) == before
    assert code(await gql(CANCEL, other, id=made["id"])) == "FORBIDDEN"
    assert code(await gql(CANCEL, admin(), id=made["id"])) == "FORBIDDEN"
    cancelled = await gql(CANCEL, me, id=made["id"])
    assert cancelled["data"]["cancelInvestment"]["state"] == "CANCELLED"
    assert code(await gql(CANCEL, me, id=made["id"])) == "CONFLICT"


async def test_investments_per_role(gql: Execute, db: AsyncSession) -> None:
    offering = await make_offering(db)
    _, alice = await make_investor(db)
    _, bob = await make_investor(db)
    order = {"offeringId": gid("Offering", offering.id), "amount": "100", "currency": "USD"}
    first = (await gql(SUBMIT, alice, input=order))["data"]["submitInvestment"]["id"]
    second = (await gql(SUBMIT, bob, input=order))["data"]["submitInvestment"]["id"]
    mine = (await gql(INVESTMENTS, alice))["data"]["investments"]
    assert [e["node"]["id"] for e in mine["edges"]] == [first]
    assert mine["totalCount"] == 1
    theirs = (await gql(INVESTMENTS, issuer_staff(offering.issuer_id)))["data"]["investments"]
    assert [e["node"]["id"] for e in theirs["edges"]] == [first, second]
    page = """query($after: String) { investments(first: 1, after: $after) {
      pageInfo { hasNextPage endCursor } edges { node { id } } } }"""
    issuer = issuer_staff(offering.issuer_id)
    one = (await gql(page, issuer, after=None))["data"]["investments"]
    assert one["pageInfo"]["hasNextPage"] is True
    two = (await gql(page, issuer, after=one["pageInfo"]["endCursor"]))["data"]["investments"]
    assert [e["node"]["id"] for e in two["edges"]] == [second]
    assert code(await gql(page, issuer, after="not-a-cursor")) == "VALIDATION"
    assert code(await gql(INVESTMENTS)) == "UNAUTHENTICATED"
    too_many = "{ investments(first: 101) { totalCount } }"
    assert code(await gql(too_many, admin())) == "LIMIT_EXCEEDED"
    node = "query($id: ID!) { node(id: $id) { id } }"
    assert (await gql(node, bob, id=first))["data"] == {"node": None}
    assert (await gql(node, alice, id=first))["data"] == {"node": {"id": first}}


NESTED = """{ investments(first: 50) { edges { node { id offering { id name } } } } }"""


async def test_nested_offering_and_wallets_cost_constant_statements(
    gql: Execute, db: AsyncSession, engine: AsyncEngine
) -> None:
    _, me = await make_investor(db)
    assert me.address is not None
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    sizes = []
    for batch in (1, 5):
        for _ in range(batch):
            offering = await make_offering(db, name=f"Nested {batch}")
            result = await gql(
                SUBMIT,
                me,
                input={
                    "offeringId": gid("Offering", offering.id),
                    "amount": "100",
                    "currency": "USD",
                },
            )
            assert result["errors"] == []
        statements.clear()
        sync_engine = engine.sync_engine
        event.listen(sync_engine, "before_cursor_execute", count)
        try:
            result = await gql(NESTED, me)
        finally:
            event.remove(sync_engine, "before_cursor_execute", count)
        edges = result["data"]["investments"]["edges"]
        assert {e["node"]["offering"]["name"] for e in edges} >= {f"Nested {batch}"}
        sizes.append((len(edges), len([s for s in statements if "SAVEPOINT" not in s])))
    assert sizes[0][0] == 1
    assert sizes[1][0] == 6
    assert sizes[0][1] == sizes[1][1]
    wallets = await gql("{ me { wallets } }", me)
    assert [w.lower() for w in wallets["data"]["me"]["wallets"]] == [me.address]
