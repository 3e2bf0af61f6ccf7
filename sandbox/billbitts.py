"""BillBitts: payment requests, hosted payment pages that pay on request, signed webhooks.

    POST /v1/payment-requests          create, or return the request of the same reference
    GET  /v1/payment-requests/{id}     the request as it stands (its status)
    POST /v1/payment-requests/{id}/cancel  close a pending request (`cancelled`); an ended
                                       one is returned unchanged
    GET  /pay/{id}                     the hosted page (a form with a Pay button)
    POST /pay/{id}                     pay it: status paid, `payment.paid` sent to our webhook
    POST /_sandbox/pay                 {"reference" | "id", "outcome": "paid" | "failed" |
                                        "expired" | "refunded"}: that event, as BillBitts would
                                        (`"webhook": false`: the status changes, no event)
    POST /_sandbox/webhooks            webhook fault switches (sandbox/billbitts_webhooks.py)
    POST /_sandbox/webhooks/flush      send held events {"order": "fifo" | "reverse"}
    GET  /_sandbox/webhooks            every delivery attempt and its answer
    POST /_sandbox/state               {"webhook": {"url", "secrets"}, "public_key_pem": …}

Requests are checked like the real service would: the API key (Bearer) and, when the sandbox
knows our public key, the request signature (dpo.providers.billbitts_signing) within 300 s.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from cryptography.hazmat.primitives import serialization
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dpo.payments.events import encode
from dpo.providers import billbitts_signing as signing
from sandbox.base import Simulator
from sandbox.billbitts_webhooks import WebhookSender

WINDOW = 300
OUTCOMES = {
    "paid": "payment.paid",
    "failed": "payment.failed",
    "expired": "payment.expired",
    "refunded": "payment.refunded",
}


class BillBittsSim(Simulator):
    """Payment requests by reference; events go out through `webhooks`."""

    name = "billbitts"

    def __init__(self, *, api_key: str | None = None) -> None:
        super().__init__(api_key=api_key)
        self.webhooks = WebhookSender()
        self.public_key: signing.PublicKey | None = None
        self._ids = itertools.count(1)
        self._events = itertools.count(1)
        self.reset_state()

    def reset_state(self) -> None:
        """No payments; webhook faults off (target and secrets kept)."""
        self.payments: dict[str, dict[str, Any]] = {}
        self.webhooks.reset()

    def plant(self, state: dict[str, Any]) -> None:
        """Webhook target/secrets, and the public key requests must be signed with."""
        if "webhook" in state:
            self.webhooks.configure(state["webhook"])
        if state.get("public_key_pem"):
            self.use_public_key(str(state["public_key_pem"]).encode())

    def use_public_key(self, pem: bytes) -> None:
        """Check request signatures with this public (or private: its public half) key."""
        if b"PRIVATE" in pem:
            self.public_key = signing.load_private_key(pem).public_key()
            return
        key = serialization.load_pem_public_key(pem)
        assert isinstance(key, signing.PublicKey)
        self.public_key = key

    def signed(self, request: Request, body: bytes) -> bool:
        """Whether the request carries our key's signature within the window."""
        if self.public_key is None:
            return True
        stamp = request.headers.get(signing.TIMESTAMP_HEADER, "")
        alg, _, encoded = request.headers.get(signing.SIGNATURE_HEADER, "").partition("=")
        if not stamp.isdigit() or abs(int(stamp) - time.time()) > WINDOW:
            return False
        if alg != signing.algorithm(self.public_key):
            return False
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return False
        message = signing.canonical(request.method, request.url.path, int(stamp), body)
        return signing.verify(self.public_key, message, raw)

    def find(self, key: str) -> dict[str, Any] | None:
        """A payment by id or by reference."""
        if key in self.payments:
            return self.payments[key]
        return next((p for p in self.payments.values() if p["id"] == key), None)

    def settle(self, payment: dict[str, Any], outcome: str, *, webhook: bool = True) -> None:
        """Move a payment to `outcome` and send the event (unless `webhook` is false)."""
        payment["status"] = outcome
        if not webhook:
            return
        data = {
            "paymentId": payment["id"],
            "reference": payment["reference"],
            "amount": payment["amount"],
            "currency": payment["currency"],
        }
        self.webhooks.emit(
            encode(f"evt_sbx_{next(self._events)}", OUTCOMES[outcome], int(time.time()), data)
        )

    def routes(self) -> list[BaseRoute]:
        """The API, the hosted pages and the sandbox's switches."""
        return [
            Route("/v1/payment-requests", self._create, methods=["POST"]),
            Route("/v1/payment-requests/{id}", self._status, methods=["GET"]),
            Route("/v1/payment-requests/{id}/cancel", self._cancel, methods=["POST"]),
            Route("/pay/{id}", self._page, methods=["GET"]),
            Route("/pay/{id}", self._pay, methods=["POST"]),
            Route("/_sandbox/pay", self._admin_pay, methods=["POST"]),
            Route("/_sandbox/webhooks", self._webhook_faults, methods=["POST"]),
            Route("/_sandbox/webhooks", self._webhook_log, methods=["GET"]),
            Route("/_sandbox/webhooks/flush", self._flush, methods=["POST"]),
        ]

    async def _create(self, request: Request) -> Response:
        if not self.authorised(request):
            return self.refuse()
        body = await request.body()
        if not self.signed(request, body):
            if self.requests:
                self.requests[-1]["signed"] = False
            return JSONResponse({"error": "bad request signature"}, status_code=401)
        try:
            wanted = await request.json()
            reference = str(wanted["reference"])
            amount = Decimal(str(wanted["amount"]))
            currency = str(wanted["currency"])
            expires_in = int(wanted.get("expiresInSeconds", 86400))
        except (ValueError, KeyError, TypeError, InvalidOperation):
            return JSONResponse({"error": "reference, amount, currency required"}, status_code=400)
        existing = self.payments.get(reference)
        if existing is not None:
            if Decimal(existing["amount"]) != amount or existing["currency"] != currency:
                return JSONResponse({"error": "reference used for another amount"}, status_code=409)
            return JSONResponse(existing, status_code=200)
        payment_id = f"pay_sbx_{next(self._ids)}"
        expires = datetime.now(UTC) + timedelta(seconds=expires_in)
        # The page lives beside the API, under whatever prefix the sandbox is mounted at.
        prefix = request.url.path.removesuffix("/v1/payment-requests")
        page = f"{request.url.scheme}://{request.url.netloc}{prefix}/pay/{payment_id}"
        payment = {
            "id": payment_id,
            "reference": reference,
            "status": "pending",
            "amount": str(amount),
            "currency": currency,
            "url": page,
            "expiresAt": expires.isoformat().replace("+00:00", "Z"),
            "description": str(wanted.get("description", "")),
        }
        self.payments[reference] = payment
        return JSONResponse(payment, status_code=201)

    async def _checked(self, request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        """The payment a signed API call names, or the refusal to answer."""
        if not self.authorised(request):
            return None, self.refuse()
        if not self.signed(request, await request.body()):
            if self.requests:
                self.requests[-1]["signed"] = False
            return None, JSONResponse({"error": "bad request signature"}, status_code=401)
        payment = self.find(request.path_params["id"])
        if payment is None:
            return None, JSONResponse({"error": "no such payment request"}, status_code=404)
        return payment, None

    async def _status(self, request: Request) -> Response:
        payment, refusal = await self._checked(request)
        return refusal or JSONResponse(payment)

    async def _cancel(self, request: Request) -> Response:
        payment, refusal = await self._checked(request)
        if refusal is not None or payment is None:
            return refusal or JSONResponse({}, status_code=404)
        if payment["status"] == "pending":
            payment["status"] = "cancelled"
            payment["cancelledAt"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return JSONResponse(payment)

    async def _page(self, request: Request) -> Response:
        payment = self.find(request.path_params["id"])
        if payment is None:
            return HTMLResponse("<h1>No such payment</h1>", status_code=404)
        button = (
            '<form method="post"><button type="submit">Pay</button></form>'
            if payment["status"] == "pending"
            else f"<p>{payment['status']}</p>"
        )
        return HTMLResponse(
            f"<h1>Pay {payment['amount']} {payment['currency']}</h1>"
            f"<p>Reference {payment['reference']}</p>{button}"
        )

    async def _pay(self, request: Request) -> Response:
        payment = self.find(request.path_params["id"])
        if payment is None:
            return HTMLResponse("<h1>No such payment</h1>", status_code=404)
        if payment["status"] != "pending":
            return HTMLResponse(f"<p>already {payment['status']}</p>", status_code=409)
        self.settle(payment, "paid")
        return HTMLResponse("<h1>Paid</h1><p>Thank you.</p>")

    async def _admin_pay(self, request: Request) -> Response:
        body = await request.json()
        payment = self.find(str(body.get("reference") or body.get("id") or ""))
        outcome = str(body.get("outcome", "paid"))
        if payment is None or outcome not in OUTCOMES:
            return JSONResponse({"error": "unknown payment or outcome"}, status_code=404)
        self.settle(payment, outcome, webhook=body.get("webhook", True) is not False)
        return JSONResponse({"ok": True, "payment": payment})

    async def _webhook_faults(self, request: Request) -> Response:
        self.webhooks.faults.set(await request.json())
        return JSONResponse({"ok": True})

    async def _webhook_log(self, request: Request) -> Response:
        return JSONResponse(
            {
                "deliveries": self.webhooks.log,
                "held": len(self.webhooks.held),
                "busy": self.webhooks.busy,
            }
        )

    async def _flush(self, request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        return JSONResponse({"sent": self.webhooks.flush(str(body.get("order", "fifo")))})
