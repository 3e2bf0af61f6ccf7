"""What an account's answers and audit rows give away, against a real server.

- A deactivated staff account's right password gets the wrong password's answer.
- A renamed investor goes back to KYC review.
- registerInvestor / updateProfile answer the same whether or not another investor has the
  e-mail (it is contact data, not an identity).
- Every audited action carries the request id and the client address; refused sign-ins are
  audited, without the password.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import text, update

from dpo.auth.principal import Kind, Principal
from dpo.auth.staff import create_staff_user
from dpo.auth.tokens import create_access_token
from dpo.db.models import User
from dpo.db.models.enums import Role
from tests.e2e.http_seed import World, seed, settings
from tests.e2e.http_world import Caller, code_of, serve
from tests.integration.api.committed import Api

pytestmark = pytest.mark.timeout(180)
STAFF_SIGN_IN = """mutation($e: String!, $p: String!) { staffSignIn(email: $e, password: $p) {
  accessToken refreshToken } }"""
SIGN_IN = """mutation($m: String!, $s: String!) { signIn(message: $m, signature: $s) {
  accessToken refreshToken } }"""
PASSWORD = "correct horse battery staple " + secrets.token_hex(4)


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    world = await seed(api)
    async with api.runtime.sessions() as session, session.begin():
        for name in ("active", "inactive"):
            user = await create_staff_user(
                session,
                email=f"{name}@staff.example.com",
                password=PASSWORD,
                role=Role.OPS,
                actor="test",
            )
            world.ids[f"staff_{name}"] = user.id
        await session.execute(
            update(User).where(User.id == world.ids["staff_inactive"]).values(is_active=False)
        )
    return world


@pytest.fixture(scope="module")
async def callers(api: Api, world: World, redis_url: str) -> AsyncIterator[dict[str, Caller]]:
    async with serve(api, world, redis_url) as callers:
        yield callers


async def audit_rows(api: Api, action: str) -> list[dict[str, Any]]:
    async with api.runtime.sessions() as session:
        rows = await session.execute(
            text(
                "SELECT actor, entity_type, entity_id, after, request_id, client_address"
                " FROM audit_log WHERE action = :a ORDER BY id"
            ),
            {"a": action},
        )
        return [dict(row._mapping) for row in rows]


async def test_deactivated_staff_gets_the_wrong_password_answer(
    api: Api, callers: dict[str, Caller]
) -> None:
    anonymous = callers["anonymous"]
    answers = {
        "inactive-right": await anonymous.post(
            STAFF_SIGN_IN, "inactive-right", e="inactive@staff.example.com", p=PASSWORD
        ),
        "inactive-wrong": await anonymous.post(
            STAFF_SIGN_IN, "inactive-wrong", e="inactive@staff.example.com", p="nope nope"
        ),
        "active-wrong": await anonymous.post(
            STAFF_SIGN_IN, "active-wrong", e="active@staff.example.com", p="nope nope"
        ),
        "unknown": await anonymous.post(
            STAFF_SIGN_IN, "unknown", e="nobody@staff.example.com", p=PASSWORD
        ),
    }
    bodies = {name: (r.status_code, r.json()) for name, r in answers.items()}
    assert len({repr(body) for body in bodies.values()}) == 1, bodies
    assert code_of(answers["unknown"]) == "UNAUTHENTICATED"
    # This test's rows only: the other tests refuse sign-ins too, in whatever order they run.
    refused = {
        row["request_id"]: row
        for row in await audit_rows(api, "auth.sign_in_refused")
        if row["request_id"] in answers
    }
    reasons = {rid: row["after"]["reason"] for rid, row in refused.items()}
    assert reasons == {
        "inactive-right": "inactive",
        "inactive-wrong": "wrong_password",
        "active-wrong": "wrong_password",
        "unknown": "unknown_email",
    }
    assert all(row["client_address"] == "127.0.0.1" for row in refused.values())
    assert PASSWORD not in repr(refused)
    ok = await anonymous.post(STAFF_SIGN_IN, e="active@staff.example.com", p=PASSWORD)
    assert code_of(ok) is None, ok.text


async def test_password_typed_as_email_is_not_audited(api: Api, callers: dict[str, Caller]) -> None:
    await callers["anonymous"].post(STAFF_SIGN_IN, "typo", e=PASSWORD, p=PASSWORD)
    rows = [r for r in await audit_rows(api, "auth.sign_in_refused") if r["request_id"] == "typo"]
    assert len(rows) == 1
    assert rows[0]["after"]["email"] is None
    assert PASSWORD not in repr(rows)


async def test_refused_wallet_sign_in_is_audited(api: Api, callers: dict[str, Caller]) -> None:
    anonymous = callers["anonymous"]
    account, other = Account.create(), Account.create()
    nonce = (await anonymous.data("{ nonce { value } }"))["nonce"]["value"]
    host = anonymous.client.base_url.netloc.decode()
    message = (
        f"{host} wants you to sign in with your Ethereum account:\n{account.address}\n\n"
        f"Sign in.\n\nURI: http://{host}\nVersion: 1\nChain ID: 31337\n"
        f"Nonce: {nonce}\nIssued At: {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"
    )
    forged = other.sign_message(encode_defunct(text=message)).signature.hex()
    response = await anonymous.post(
        SIGN_IN, "forged-siwe", m=message, s="0x" + forged.removeprefix("0x")
    )
    assert code_of(response) == "UNAUTHENTICATED", response.text
    rows = [
        r for r in await audit_rows(api, "auth.sign_in_refused") if r["request_id"] == "forged-siwe"
    ]
    assert len(rows) == 1
    assert rows[0]["entity_type"] == "wallet"
    assert rows[0]["entity_id"] == account.address
    assert rows[0]["client_address"] == "127.0.0.1"
    assert forged.removeprefix("0x") not in repr(rows)


async def test_rename_after_kyc_approval_goes_back_to_review(
    world: World, callers: dict[str, Caller]
) -> None:
    investor = callers["investor"]
    profile = (
        "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { fullName kycStatus } }"
    )
    same = await investor.data(profile, i={"fullName": " Ada "})  # spacing only: no change
    assert same["updateProfile"] == {"fullName": "Ada", "kycStatus": "APPROVED"}
    renamed = await investor.data(profile, i={"fullName": "Mallory"})
    assert renamed["updateProfile"] == {"fullName": "Mallory", "kycStatus": "PENDING"}
    order = await investor.post(
        "mutation($i: SubmitInvestmentInput!) { submitInvestment(input: $i) { id } }",
        i={"offeringId": world.gid("Offering", "acme_open"), "amount": "20", "currency": "EUR"},
    )
    assert code_of(order) == "FORBIDDEN", order.text  # KYC no longer approved


async def test_email_existence_cannot_be_probed(api: Api, callers: dict[str, Caller]) -> None:
    register = (
        "mutation($i: RegisterInvestorInput!) { registerInvestor(input: $i) { email kycStatus } }"
    )
    async with api.runtime.sessions() as session:
        taken = await session.scalar(text("SELECT email FROM investors WHERE full_name = 'Bob'"))
    fresh = f"fresh{secrets.token_hex(4)}@example.com"
    answers = [
        await callers["new_wallet"].post(
            register, i={"fullName": "Eve", "email": email, "country": "DE", "isUsPerson": False}
        )
        for email in (taken.upper(), fresh)
    ]
    # The first registers (with Bob's e-mail); the second is refused for the wallet, not the
    # e-mail: the wallet is registered now. Neither answer depends on the e-mail.
    assert code_of(answers[0]) is None, answers[0].text
    assert answers[1].json()["errors"][0]["extensions"]["reason"] == "already_registered"
    profile = "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { email } }"
    moved = await callers["other_investor"].post(profile, i={"email": taken})
    assert code_of(moved) is None, moved.text


async def test_every_audited_action_carries_request_id_and_address(
    api: Api, world: World, callers: dict[str, Caller]
) -> None:
    admin, ops, investor = callers["admin"], callers["ops"], callers["investor"]
    await admin.data(
        "mutation($id: ID!) { approveKyc(investorId: $id) { id } }",
        id=world.gid("Investor", "pending_investor"),
    )
    await admin.data(
        "mutation($id: ID!, $e: DateTime) { setAccreditation(investorId: $id,"
        " status: VERIFIED, expiresAt: $e) { id } }",
        id=world.gid("Investor", "other_investor"),
        e="2099-01-01T00:00:00Z",
    )
    await ops.data(
        "mutation($id: ID!) { resolveBreak(id: $id) { status } }",
        id=world.gid("ReconciliationBreak", "break"),
    )
    await investor.data(
        "mutation($id: ID!) { cancelInvestment(id: $id) { id } }",
        id=world.gid("Investment", "order"),
    )
    await admin.data(
        "mutation($id: ID!) { openOffering(id: $id) { id } }",
        id=world.gid("Offering", "acme_draft"),
    )
    signed = await callers["anonymous"].data(
        STAFF_SIGN_IN, e="active@staff.example.com", p=PASSWORD
    )
    refreshed = await callers["anonymous"].data(
        "mutation($t: String!) { refreshToken(refreshToken: $t) { refreshToken } }",
        t=signed["staffSignIn"]["refreshToken"],
    )
    await callers["anonymous"].data(
        "mutation($t: String!) { signOut(refreshToken: $t) }",
        t=refreshed["refreshToken"]["refreshToken"],
    )
    # Made here, not left to the other tests of the file: this test must pass alone and in
    # any order (run alone it found none of these three).
    refused = await callers["anonymous"].post(
        STAFF_SIGN_IN, e="active@staff.example.com", p="not the password"
    )
    assert code_of(refused) == "UNAUTHENTICATED", refused.text
    wallet = Principal(kind=Kind.WALLET, role="investor", address="0x" + secrets.token_hex(20))
    token = create_access_token(wallet, settings=settings()).token
    await Caller(investor.client, {"Authorization": f"Bearer {token}"}).data(
        "mutation($i: RegisterInvestorInput!) { registerInvestor(input: $i) { id } }",
        i={"fullName": "Dee", "email": "dee@example.com", "country": "DE", "isUsPerson": False},
    )
    await callers["other_investor"].data(
        "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { email } }",
        i={"email": f"moved{secrets.token_hex(4)}@example.com"},
    )
    async with api.runtime.sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT action, request_id, client_address FROM audit_log"
                    " WHERE actor <> 'test' ORDER BY id"
                )
            )
        ).all()
    actions = {row.action for row in rows}
    assert {
        "investor.kyc",
        "investor.accreditation",
        "reconciliation_break.resolve",
        "investment.cancel",
        "offering.open",
        "auth.sign_in",
        "auth.refresh",
        "auth.sign_out",
        "investor.update_profile",
        "investor.register",
        "auth.sign_in_refused",
    } <= actions, actions
    assert [row.action for row in rows if not row.request_id or not row.client_address] == []
