"""The BillBitts status and cancel calls against the sandbox: signed, idempotent, and a hostile
answer is a typed error, never a crash or a wrong payment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from dpo.errors import ProviderMalformed, ProviderRejected, ProviderUnavailable
from dpo.providers.factory import Providers
from sandbox.server import Sandbox
from tests.integration.providers.test_billbitts import clients, order, pem


@pytest.fixture
async def signed(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[tuple[Providers, Sandbox]]:
    sandbox.world.reset()
    key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "billbitts.pem"
    path.write_bytes(pem(key))
    sandbox.world.billbitts.use_public_key(pem(key))
    providers = await clients(sandbox, path)
    yield providers, sandbox
    await providers.aclose()
    sandbox.world.billbitts.public_key = None


async def test_status_and_cancel_are_signed_and_cancel_is_idempotent(
    signed: tuple[Providers, Sandbox],
) -> None:
    providers, sandbox = signed
    created = await providers.billbitts.create_payment(order("DPO-STAT-0001"))
    assert (await providers.billbitts.payment_status(created.id)).status == "pending"
    first = await providers.billbitts.cancel_payment(created.id)
    again = await providers.billbitts.cancel_payment(created.id)
    assert (first.status, again.status) == ("cancelled", "cancelled")
    assert (await providers.billbitts.payment_status(created.id)).status == "cancelled"
    calls = [
        r
        for r in sandbox.world.billbitts.requests
        if r["path"].endswith(created.id) or r["path"].endswith("/cancel")
    ]
    assert len(calls) == 4
    assert all(r["authorised"] and r.get("signed", True) for r in calls)


async def test_cancel_of_a_paid_request_changes_nothing_and_says_paid(
    signed: tuple[Providers, Sandbox],
) -> None:
    providers, sandbox = signed
    created = await providers.billbitts.create_payment(order("DPO-STAT-0002"))
    sandbox.world.billbitts.settle(
        sandbox.world.billbitts.payments["DPO-STAT-0002"], "paid", webhook=False
    )
    assert (await providers.billbitts.cancel_payment(created.id)).status == "paid"
    assert sandbox.world.billbitts.payments["DPO-STAT-0002"]["status"] == "paid"


@pytest.mark.parametrize(
    "payment_id", ["pay_unknown", "../v1/payment-requests", "a?b=c", "x" * 500, "%2e%2e"]
)
async def test_an_unknown_or_odd_id_is_refused_and_stays_in_the_path(
    signed: tuple[Providers, Sandbox], payment_id: str
) -> None:
    providers, sandbox = signed
    with pytest.raises(ProviderRejected):
        await providers.billbitts.payment_status(payment_id)
    with pytest.raises(ProviderRejected):
        await providers.billbitts.cancel_payment(payment_id)
    assert all(
        r["path"].startswith("/billbitts/v1/payment-requests/")
        for r in sandbox.world.billbitts.requests
    )
    assert sandbox.world.billbitts.payments == {}


@pytest.mark.parametrize(
    "fault", ["malformed", "wrong_schema", "another_id", "unknown_status", "not_a_page"]
)
async def test_a_hostile_answer_is_malformed(
    signed: tuple[Providers, Sandbox], monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    providers, sandbox = signed
    created = await providers.billbitts.create_payment(order("DPO-STAT-0003"))
    stored = sandbox.world.billbitts.payments["DPO-STAT-0003"]
    if fault == "another_id":
        # The answer for our id names another payment.
        monkeypatch.setattr(
            sandbox.world.billbitts, "find", lambda key: {**stored, "id": "pay_other"}
        )
    elif fault == "unknown_status":
        stored["status"] = "on_hold"
    elif fault == "not_a_page":
        stored["url"] = "javascript:alert(1)"
    else:
        sandbox.world.billbitts.faults.set(always=fault)
    try:
        with pytest.raises(ProviderMalformed):
            await providers.billbitts.payment_status(created.id)
        with pytest.raises(ProviderMalformed):
            await providers.billbitts.cancel_payment(created.id)
    finally:
        sandbox.world.billbitts.faults.clear()


async def test_billbitts_down_is_unavailable(signed: tuple[Providers, Sandbox]) -> None:
    providers, sandbox = signed
    created = await providers.billbitts.create_payment(order("DPO-STAT-0004"))
    sandbox.world.billbitts.faults.set(always="503")
    try:
        with pytest.raises(ProviderUnavailable):
            await providers.billbitts.cancel_payment(created.id)
    finally:
        sandbox.world.billbitts.faults.clear()
    assert sandbox.world.billbitts.payments["DPO-STAT-0004"]["status"] == "pending"
