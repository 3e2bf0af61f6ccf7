"""BillBitts: hosted payment requests for orders (assumed wire format: docs/INTEGRATIONS.md).

`POST /v1/payment-requests` creates the request for one order, keyed by the order's payment
reference, which BillBitts de-duplicates: sending it again
(a retry, a worker after a crash, two replicas at once) returns the same request, never a
second one. So the POST is retried like a read. `GET /v1/payment-requests/{id}` reads a
request's status (the expiry worker asks before cancelling an order), and
`POST /v1/payment-requests/{id}/cancel` closes its page; cancelling again returns the same
answer, so it is retried like a read too. Requests are signed with our private key
(dpo.providers.billbitts_signing) besides the API key.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal
from urllib.parse import quote, urlsplit

from pydantic import AwareDatetime, Field, StringConstraints, field_validator

from dpo.errors import ProviderMalformed
from dpo.providers.csd import _Strict
from dpo.providers.http import ProviderHttp
from dpo.providers.wire import decode

PROVIDER = "billbitts"
PATH = "v1/payment-requests"
Reference = Annotated[str, StringConstraints(min_length=1, max_length=64)]
PaymentId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")]


class PaymentRequest(_Strict):
    """What we ask BillBitts for: a hosted page where the investor pays one order."""

    reference: Reference
    amount: Decimal = Field(gt=0, allow_inf_nan=False)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    description: Annotated[str, StringConstraints(max_length=200)]
    expires_in_seconds: int = Field(alias="expiresInSeconds", ge=60, le=30 * 86400)
    investment_id: int = Field(alias="investmentId", ge=1)

    def wire(self) -> dict[str, object]:
        """The JSON body (amounts as decimal strings: no float rounding)."""
        return {
            "reference": self.reference,
            "amount": str(self.amount),
            "currency": self.currency,
            "description": self.description,
            "expiresInSeconds": self.expires_in_seconds,
            "metadata": {"investmentId": str(self.investment_id)},
        }


class Payment(_Strict):
    """BillBitts' payment request: its id, the hosted page and when it expires."""

    id: PaymentId
    reference: Reference
    # `cancelled`: closed by our cancel call (nobody can pay it any more).
    status: Literal["pending", "paid", "failed", "expired", "refunded", "cancelled"]
    url: Annotated[str, StringConstraints(max_length=2048)]
    expires_at: AwareDatetime = Field(alias="expiresAt")
    amount: Decimal = Field(gt=0, allow_inf_nan=False)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]

    @field_validator("url")
    @classmethod
    def _web_page(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("not a web page address")
        return value


class BillBittsClient:
    """Creates (or finds again) the payment request of an order."""

    def __init__(self, http: ProviderHttp) -> None:
        self.http = http

    async def create_payment(self, request: PaymentRequest) -> Payment:
        """The payment request for `request.reference`, created now or earlier."""
        payment = await self.http.call(
            "POST",
            PATH,
            lambda response, body: decode(PROVIDER, Payment, body),
            json=request.wire(),
            idempotent=True,
        )
        if payment.reference != request.reference:
            raise ProviderMalformed(PROVIDER, "answer is for another reference")
        if payment.currency != request.currency or payment.amount != request.amount:
            raise ProviderMalformed(PROVIDER, "answer is for another amount")
        return payment

    async def payment_status(self, payment_id: str) -> Payment:
        """The payment request as BillBitts sees it now."""
        payment = await self.http.call(
            "GET", _path_of(payment_id), lambda response, body: decode(PROVIDER, Payment, body)
        )
        return _same(payment, payment_id)

    async def cancel_payment(self, payment_id: str) -> Payment:
        """Close the request's page; the answer is the request as it now stands.

        `cancelled`, or the status it had already ended in (paid, failed, expired, refunded),
        in which case BillBitts changed nothing.
        """
        payment = await self.http.call(
            "POST",
            f"{_path_of(payment_id)}/cancel",
            lambda response, body: decode(PROVIDER, Payment, body),
            json={},
            idempotent=True,
        )
        return _same(payment, payment_id)


def _path_of(payment_id: str) -> str:
    # Our ids came from BillBitts (PaymentId pattern); quoted anyway: a path, never a query.
    return f"{PATH}/{quote(payment_id, safe='')}"


def _same(payment: Payment, payment_id: str) -> Payment:
    if payment.id != payment_id:
        raise ProviderMalformed(PROVIDER, "answer is for another payment")
    return payment
