"""Every mutation through a real uvicorn server: each role refused with its code and nothing
changed, then the allowed paths, each writing its audit row (actor, action, entity, before,
after). Sign-in mutations are in test_auth.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from dpo.db.models import Investor
from schema.relay import from_global_id
from tests.e2e.http_seed import World, new_isin, seed
from tests.e2e.http_world import ROLES, Caller, audit_rows, code_of, fingerprint, serve
from tests.integration.api.committed import Api

CREATE = "mutation($i: CreateOfferingInput!) { createOffering(input: $i) { id status } }"
UPDATE = "mutation($i: UpdateOfferingInput!) { updateOffering(input: $i) { name } }"
OPEN = "mutation($id: ID!) { openOffering(id: $id) { status } }"
CLOSE = "mutation($id: ID!) { closeOffering(id: $id) { status } }"
CANCEL = "mutation($id: ID!) { cancelOffering(id: $id) { status } }"
SETTLE = "mutation($id: ID!) { settleOffering(id: $id) { status } }"
REGISTER = """mutation($i: RegisterInvestorInput!) { registerInvestor(input: $i) {
  id fullName wallets kycStatus } }"""
PROFILE = "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { fullName } }"
KYC = "mutation($id: ID!, $s: KycStatus!) { approveKyc(investorId: $id, status: $s) { kycStatus } }"
ACCREDIT = """mutation($id: ID!, $s: AccreditationStatus!, $e: DateTime) {
  setAccreditation(investorId: $id, status: $s, expiresAt: $e) { accreditationStatus } }"""
SUBMIT = """mutation($i: SubmitInvestmentInput!) { submitInvestment(input: $i) {
  id state units } }"""
CANCEL_ORDER = "mutation($id: ID!) { cancelInvestment(id: $id) { state } }"
RESOLVE = """mutation($id: ID!, $n: String) { resolveBreak(id: $id, note: $n) {
  status resolvedBy } }"""
MAP = """mutation($a: String!, $h: Address) { mapCsdAccount(csd: EUROCLEAR, account: $a,
  holder: $h) { changed } }"""
UNMAP = "mutation($a: String!) { unmapCsdAccount(csd: EUROCLEAR, account: $a) { account } }"
U, F, N, C, V = "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "CONFLICT", "VALIDATION"
Vars = Callable[[World], dict[str, Any]]


def new_offering(w: World, issuer: str = "acme") -> dict[str, Any]:
    return {
        "i": {
            "issuerId": w.gid("Issuer", issuer),
            "isin": new_isin(),
            "name": "Fresh",
            "symbol": "FRSH",
            "securityType": "EQUITY",
            "regulation": "REG_S",
            "currency": "EUR",
            "unitPrice": "10",
            "hardCap": "1000",
            "opensAt": "2026-01-01T00:00:00Z",
            "closesAt": "2099-01-01T00:00:00Z",
        }
    }


def offering(name: str) -> Vars:
    return lambda w: {"id": w.gid("Offering", name)}


def investor(name: str, **extra: Any) -> Vars:
    return lambda w: {"id": w.gid("Investor", name), **extra}


def order(w: World, offering_name: str = "acme_open", amount: str = "20") -> dict[str, Any]:
    return {
        "i": {"offeringId": w.gid("Offering", offering_name), "amount": amount, "currency": "EUR"}
    }


def refused(
    document: str, variables: Vars, codes: dict[str, str]
) -> list[tuple[str, Vars, str, str]]:
    return [(document, variables, role, code) for role, code in codes.items()]


def outsiders(*, others: str, **roles: str) -> dict[str, str]:
    """Roles refused: anonymous always; the rest as given, `others` for unnamed non-owners."""
    names = ("investor", "other_investor", "other_issuer", "ops", "api_key")
    return {"anonymous": U, **dict.fromkeys(names, others), **roles}


REGISTRATION = {
    "i": {"fullName": "Dee", "email": "dee@example.com", "country": "IE", "isUsPerson": False}
}
REFUSALS = [
    *refused(CREATE, new_offering, outsiders(others=F)),
    *refused(CREATE, lambda w: new_offering(w, "bolt"), {"issuer": F}),
    *refused(
        UPDATE,
        lambda w: {"i": {"id": w.gid("Offering", "acme_draft"), "name": "X"}},
        outsiders(others=F, other_issuer=N),
    ),
    *refused(
        UPDATE,
        lambda w: {"i": {"id": w.gid("Offering", "acme_open"), "name": "X"}},
        {"issuer": C, "admin": C},
    ),
    *refused(OPEN, offering("acme_draft"), outsiders(others=F, other_issuer=N)),
    *refused(OPEN, offering("acme_open"), {"issuer": C}),
    *refused(CLOSE, offering("acme_open"), outsiders(others=F)),
    *refused(CLOSE, offering("acme_draft"), {"issuer": C, "admin": C}),
    *refused(CANCEL, offering("acme_draft"), outsiders(others=F, other_issuer=N)),
    *refused(SETTLE, offering("acme_settle"), outsiders(others=F, other_issuer=N)),
    *refused(SETTLE, offering("acme_unsettled"), {"issuer": C, "admin": C}),
    *refused(SETTLE, offering("acme_open"), {"issuer": C}),
    *refused(
        REGISTER,
        lambda w: REGISTRATION,
        {"anonymous": U, "investor": C, "issuer": F, "admin": F, "ops": F, "api_key": F},
    ),
    *refused(
        PROFILE,
        lambda w: {"i": {"fullName": "Eve"}},
        {"anonymous": U, "new_wallet": F, "issuer": F, "admin": F, "ops": F, "api_key": F},
    ),
    # Another investor's e-mail is accepted (e-mails are not unique, issue 9); a malformed one
    # is refused.
    *refused(PROFILE, lambda w: {"i": {"email": "not-an-email"}}, {"investor": V}),
    *refused(KYC, investor("pending_investor", s="APPROVED"), outsiders(others=F, issuer=F)),
    *refused(KYC, investor("investor", s="APPROVED"), {"admin": C}),
    *refused(
        ACCREDIT,
        investor("investor", s="VERIFIED", e="2099-01-01T00:00:00Z"),
        outsiders(others=F, issuer=F),
    ),
    *refused(ACCREDIT, investor("investor", s="VERIFIED"), {"admin": V}),
    *refused(
        SUBMIT,
        order,
        {"anonymous": U, "new_wallet": F, "issuer": F, "admin": F, "ops": F, "api_key": F},
    ),
    *refused(SUBMIT, lambda w: order(w, "acme_draft"), {"investor": N}),
    *refused(SUBMIT, lambda w: order(w, amount="5"), {"investor": V}),
    *refused(SUBMIT, lambda w: order(w, amount="15"), {"investor": V}),
    *refused(
        CANCEL_ORDER,
        lambda w: {"id": w.gid("Investment", "order")},
        {
            "anonymous": U,
            **dict.fromkeys(
                ("other_investor", "issuer", "other_issuer", "admin", "ops", "api_key"), F
            ),
        },
    ),
    *refused(CANCEL_ORDER, lambda w: {"id": w.gid("Investment", "issued")}, {"investor": C}),
    *refused(
        RESOLVE,
        lambda w: {"id": w.gid("ReconciliationBreak", "break"), "n": "x" * 2001},
        {"ops": V},
    ),
    *refused(
        MAP,
        lambda w: {"a": "EC-1", "h": w.addresses["investor"]},
        {"anonymous": U, "investor": F, "other_investor": F, "issuer": F, "other_issuer": F},
    ),
    *refused(MAP, lambda w: {"a": " EC-1", "h": w.addresses["investor"]}, {"ops": V}),
    *refused(MAP, lambda w: {"a": "EC-1"}, {"admin": V}),
    *refused(
        UNMAP, lambda w: {"a": "EC-1"}, {"anonymous": U, "investor": F, "issuer": F, "ops": N}
    ),
    *refused(
        RESOLVE,
        lambda w: {"id": w.gid("ReconciliationBreak", "break")},
        {"anonymous": U, "investor": F, "other_investor": F, "issuer": F, "other_issuer": F},
    ),
]


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    world = await seed(api)
    async with api.runtime.sessions() as session, session.begin():
        await session.execute(
            update(Investor)
            .where(Investor.id == world.ids["other_investor"])
            .values(email="taken@example.com")
        )
    return world


@pytest.fixture(scope="module")
async def callers(api: Api, world: World, redis_url: str) -> AsyncIterator[dict[str, Caller]]:
    async with serve(api, world, redis_url) as callers:
        yield callers


@pytest.mark.parametrize(
    ("document", "variables", "role", "code"),
    REFUSALS,
    ids=[f"{d.split('{')[1].split('(')[0].strip()}-{r}-{c}" for d, _, r, c in REFUSALS],
)
async def test_refused_and_nothing_changed(
    api: Api,
    world: World,
    callers: dict[str, Caller],
    document: str,
    variables: Vars,
    role: str,
    code: str,
) -> None:
    assert role in (*ROLES, "new_wallet")
    before = await fingerprint(api)
    response = await callers[role].post(document, **variables(world))
    assert code_of(response) == code, response.text
    assert response.json()["data"] is None
    assert await fingerprint(api) == before


async def audited(api: Api, entity: str, gid: str) -> dict[str, Any]:
    rows = await audit_rows(api, entity, from_global_id(gid)[1])
    return dict(rows[-1])


async def test_offering_life_cycle_and_settlement(
    api: Api, world: World, callers: dict[str, Caller]
) -> None:
    issuer, admin = callers["issuer"], callers["admin"]
    created = (await issuer.data(CREATE, **new_offering(world)))["createOffering"]
    oid = created["id"]
    row = await audited(api, "offering", oid)
    assert (row["actor"], row["action"], row["before"]) == ("user:901", "offering.create", None)
    assert row["after"]["name"] == "Fresh"
    await admin.data(UPDATE, i={"id": oid, "name": "Fresher"})
    row = await audited(api, "offering", oid)
    assert (row["actor"], row["action"]) == ("user:903", "offering.update")
    assert (row["before"]["name"], row["after"]["name"]) == ("Fresh", "Fresher")
    for document, status, action in (
        (OPEN, "OPEN", "open"),
        (CLOSE, "CLOSED", "closed"),
        (CANCEL, "CANCELLED", "cancelled"),
    ):
        answer = await issuer.data(document, id=oid)
        assert next(iter(answer.values())) == {"status": status}
        row = await audited(api, "offering", oid)
        assert (row["actor"], row["action"]) == ("user:901", f"offering.{action}")
        assert row["after"]["status"] == action
    assert code_of(await issuer.post(CANCEL, id=oid)) == C
    settle = world.gid("Offering", "acme_settle")
    response = await issuer.post(SETTLE, request_id="e2e-settle-1", id=settle)
    assert response.json() == {"data": {"settleOffering": {"status": "SETTLED"}}}
    row = await audited(api, "offering", settle)
    assert (row["actor"], row["action"], row["request_id"]) == (
        "user:901",
        "offering.settled",
        "e2e-settle-1",
    )
    assert (row["before"]["status"], row["after"]["status"]) == ("closed", "settled")
    again = await admin.post(SETTLE, id=settle)
    assert code_of(again) == C
    unissued = await admin.post(SETTLE, id=world.gid("Offering", "acme_unsettled"))
    assert unissued.json()["errors"][0]["extensions"] == {
        "code": C,
        "reason": "unissued_investments",
        "count": 1,
    }


async def test_investor_register_profile_kyc_accreditation(
    api: Api, world: World, callers: dict[str, Caller]
) -> None:
    registered = (await callers["new_wallet"].data(REGISTER, **REGISTRATION))["registerInvestor"]
    assert registered["kycStatus"] == "PENDING"
    row = await audited(api, "investor", registered["id"])
    assert (row["actor"], row["action"], row["before"]) == (
        f"wallet:{world.addresses['new_wallet']}",
        "investor.register",
        None,
    )
    await callers["investor"].data(PROFILE, i={"fullName": "Ada L."})
    row = await audited(api, "investor", world.gid("Investor", "investor"))
    assert row["action"] == "investor.update_profile"
    assert (row["before"]["full_name"], row["after"]["full_name"]) == ("Ada", "Ada L.")
    # A new name goes back to KYC review (issue 9); the admin approves it again.
    assert (row["before"]["kyc_status"], row["after"]["kyc_status"]) == ("approved", "pending")
    await callers["admin"].data(KYC, id=world.gid("Investor", "investor"), s="APPROVED")
    pending = world.gid("Investor", "pending_investor")
    await callers["admin"].data(KYC, id=pending, s="APPROVED")
    row = await audited(api, "investor", pending)
    assert (row["actor"], row["action"]) == ("user:903", "investor.kyc")
    assert (row["before"]["kyc_status"], row["after"]["kyc_status"]) == ("pending", "approved")
    expiry = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    answer = await callers["admin"].data(ACCREDIT, id=pending, s="VERIFIED", e=expiry)
    assert answer["setAccreditation"] == {"accreditationStatus": "VERIFIED"}
    row = await audited(api, "investor", pending)
    assert row["action"] == "investor.accreditation"
    assert row["after"]["accreditation_status"] == "verified"


async def test_submit_and_cancel_an_order(
    api: Api, world: World, callers: dict[str, Caller]
) -> None:
    placed = (await callers["investor"].data(SUBMIT, **order(world)))["submitInvestment"]
    assert (placed["state"], placed["units"]) == ("PENDING_PAYMENT", "2")
    row = await audited(api, "investment", placed["id"])
    assert (row["actor"], row["action"], row["before"]) == (
        f"wallet:{world.addresses['investor']}",
        "investment.submit",
        None,
    )
    assert row["after"]["amount"].startswith("20")
    theirs = await callers["other_investor"].post(CANCEL_ORDER, id=placed["id"])
    assert code_of(theirs) == F
    cancelled = await callers["investor"].data(CANCEL_ORDER, id=placed["id"])
    assert cancelled["cancelInvestment"] == {"state": "CANCELLED"}
    row = await audited(api, "investment", placed["id"])
    assert row["action"] == "investment.cancel"
    assert (row["before"]["state"], row["after"]["state"]) == ("pending_payment", "cancelled")


async def test_resolve_break_with_an_api_key(
    api: Api, world: World, callers: dict[str, Caller]
) -> None:
    target = world.gid("ReconciliationBreak", "break")
    answer = await callers["api_key"].data(RESOLVE, id=target, n="matched by hand")
    prefix = world.addresses["api_key"].partition(".")[0]
    assert answer["resolveBreak"] == {"status": "RESOLVED", "resolvedBy": f"api_key:{prefix}"}
    row = await audited(api, "reconciliation_break", target)
    assert (row["actor"], row["action"]) == (f"api_key:{prefix}", "reconciliation_break.resolve")
    assert (row["before"]["status"], row["after"]["status"]) == ("open", "resolved")
    assert code_of(await callers["ops"].post(RESOLVE, id=target)) == C


async def test_admin_creates_for_any_issuer_and_ops_resolves(
    api: Api, world: World, callers: dict[str, Caller]
) -> None:
    created = await callers["admin"].data(CREATE, **new_offering(world, "bolt"))
    oid = created["createOffering"]["id"]
    assert created["createOffering"]["status"] == "DRAFT"
    row = await audited(api, "offering", oid)
    assert (row["actor"], row["action"]) == ("user:903", "offering.create")
    assert row["after"]["issuer_id"] == world.ids["bolt"]
    target = world.gid("ReconciliationBreak", "other_break")
    answer = await callers["ops"].data(RESOLVE, id=target, n="custodian confirmed")
    assert answer["resolveBreak"]["status"] == "RESOLVED"
    row = await audited(api, "reconciliation_break", target)
    assert row["action"] == "reconciliation_break.resolve"
    assert (row["before"]["status"], row["after"]["status"]) == ("open", "resolved")
