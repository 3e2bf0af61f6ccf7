"""The BillBitts client against the sandbox: signed requests, idempotency, no leaked secrets."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from dpo.errors import ProviderMalformed, ProviderRejected, ProviderUnavailable
from dpo.providers.billbitts import PaymentRequest
from dpo.providers.breaker import Breakers
from dpo.providers.factory import Providers
from sandbox.server import Sandbox
from tests.integration.providers.conftest import settings_for

KEYS: dict[str, Callable[[], object]] = {
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "es256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ps256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
}


def pem(key: object, *, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def order(reference: str = "DPO-SIGN-0001", amount: str = "250.00") -> PaymentRequest:
    return PaymentRequest(
        reference=reference,
        amount=Decimal(amount),
        currency="EUR",
        description="Acme 2030",
        expires_in_seconds=3600,
        investment_id=7,
    )


async def clients(sandbox: Sandbox, key_path: Path | None) -> Providers:
    extra = {"BILLBITTS_PRIVATE_KEY_PATH": str(key_path)} if key_path else {}
    settings = settings_for(sandbox, **extra)
    return Providers.from_settings(settings, breakers=Breakers(threshold=3, reset_seconds=0.5))


@pytest.fixture
async def fresh(sandbox: Sandbox) -> AsyncIterator[Sandbox]:
    sandbox.world.reset()
    sandbox.world.billbitts.public_key = None
    yield sandbox
    sandbox.world.billbitts.public_key = None


@pytest.mark.parametrize("alg", list(KEYS))
async def test_signed_requests_are_accepted_by_the_holder_of_the_public_key(
    fresh: Sandbox, tmp_path: Path, alg: str
) -> None:
    key = KEYS[alg]()
    path = tmp_path / "billbitts.pem"
    path.write_bytes(pem(key))
    fresh.world.billbitts.use_public_key(pem(key))
    providers = await clients(fresh, path)
    try:
        payment = await providers.billbitts.create_payment(order())
    finally:
        await providers.aclose()
    assert payment.reference == "DPO-SIGN-0001"
    assert payment.status == "pending"
    assert payment.url.endswith(f"/billbitts/pay/{payment.id}")
    assert payment.amount == Decimal("250.00")


async def test_another_key_is_refused_and_not_retried(fresh: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "billbitts.pem"
    path.write_bytes(pem(ed25519.Ed25519PrivateKey.generate()))
    fresh.world.billbitts.use_public_key(pem(ed25519.Ed25519PrivateKey.generate()))
    providers = await clients(fresh, path)
    try:
        with pytest.raises(ProviderRejected):
            await providers.billbitts.create_payment(order())
    finally:
        await providers.aclose()
    assert len(fresh.world.billbitts.requests) == 1
    assert fresh.world.billbitts.payments == {}


async def test_unsigned_requests_are_refused_when_billbitts_expects_a_signature(
    fresh: Sandbox,
) -> None:
    fresh.world.billbitts.use_public_key(pem(ed25519.Ed25519PrivateKey.generate()))
    providers = await clients(fresh, None)
    try:
        with pytest.raises(ProviderRejected):
            await providers.billbitts.create_payment(order())
    finally:
        await providers.aclose()


async def test_the_same_reference_gives_the_same_payment(fresh: Sandbox) -> None:
    providers = await clients(fresh, None)
    try:
        first = await providers.billbitts.create_payment(order())
        second = await providers.billbitts.create_payment(order())
        other = await providers.billbitts.create_payment(order("DPO-SIGN-0002"))
    finally:
        await providers.aclose()
    assert first == second
    assert other.id != first.id
    assert len(fresh.world.billbitts.payments) == 2


async def test_a_retry_after_a_lost_answer_creates_nothing_twice(fresh: Sandbox) -> None:
    # The first answer is cut off after the sandbox created the payment.
    fresh.world.billbitts.faults.set(["ok", "reset"])
    providers = await clients(fresh, None)
    try:
        await providers.billbitts.create_payment(order("DPO-SIGN-0003"))
        again = await providers.billbitts.create_payment(order("DPO-SIGN-0003"))
    finally:
        await providers.aclose()
    assert len(fresh.world.billbitts.payments) == 1
    assert again.id == fresh.world.billbitts.payments["DPO-SIGN-0003"]["id"]


async def test_a_reference_reused_or_answered_for_another_is_refused(fresh: Sandbox) -> None:
    providers = await clients(fresh, None)
    try:
        await providers.billbitts.create_payment(order("DPO-SIGN-0004", "10.00"))
        with pytest.raises(ProviderRejected):
            await providers.billbitts.create_payment(order("DPO-SIGN-0004", "11.00"))
        fresh.world.billbitts.payments["DPO-SIGN-0004"]["reference"] = "DPO-OTHER"
        with pytest.raises(ProviderMalformed, match="another reference"):
            await providers.billbitts.create_payment(order("DPO-SIGN-0004", "10.00"))
    finally:
        await providers.aclose()


@pytest.mark.parametrize("content", ["missing", "garbage", "encrypted", "small_rsa", "p384"])
async def test_an_unusable_key_file_is_rejected_without_a_request_or_a_leak(
    fresh: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    path = tmp_path / "secret-name-of-key.pem"
    if content == "garbage":
        path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    elif content == "encrypted":
        path.write_bytes(pem(ed25519.Ed25519PrivateKey.generate(), password=b"pw"))
    elif content == "small_rsa":
        path.write_bytes(pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)))  # noqa: S505
    elif content == "p384":
        path.write_bytes(pem(ec.generate_private_key(ec.SECP384R1())))
    providers = await clients(fresh, path)
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(ProviderRejected) as caught:
            await providers.billbitts.create_payment(order())
    finally:
        await providers.aclose()
    assert fresh.world.billbitts.requests == []
    text = str(caught.value) + repr(caught.value.details) + caplog.text
    assert "secret-name-of-key" not in text
    assert "BEGIN" not in text


async def test_neither_the_api_key_nor_the_private_key_is_logged(
    fresh: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "billbitts.pem"
    path.write_bytes(pem(key))
    caplog.set_level(logging.DEBUG)
    providers = await clients(fresh, path)
    try:
        await providers.billbitts.create_payment(order())
        fresh.world.billbitts.faults.set(always="500")
        with pytest.raises(ProviderUnavailable) as caught:
            await providers.billbitts.create_payment(order("DPO-SIGN-0009"))
    finally:
        await providers.aclose()
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    text = caplog.text + str(caught.value) + repr(caught.value.__dict__) + repr(providers)
    assert "sandbox-billbitts-key" not in text
    assert raw.hex() not in text
    assert "PRIVATE KEY" not in text
