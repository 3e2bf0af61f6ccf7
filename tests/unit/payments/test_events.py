"""Webhook bodies: known, unknown and malformed events."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from dpo.payments.events import MalformedEvent, PaymentEvent, encode, parse

DATA = {"paymentId": "pay_123", "reference": "DPO-7K3M-Q9XA", "amount": "100.00", "currency": "EUR"}


@pytest.mark.parametrize("kind", list(PaymentEvent))
def test_payment_events_are_typed(kind: PaymentEvent) -> None:
    event = parse(encode("evt_1", kind.value, 1_764_877_000, DATA))
    assert event.kind is kind
    assert event.payment is not None
    assert event.payment.payment_id == "pay_123"
    assert event.payment.amount == Decimal("100.00")
    assert event.created.year == 2025


def test_unknown_types_parse_without_data() -> None:
    event = parse(encode("evt_2", "customer.updated", 1, {"anything": [1, 2]}))
    assert (event.kind, event.payment, event.type) == (None, None, "customer.updated")


def test_extra_fields_are_ignored() -> None:
    body = json.loads(encode("evt_3", "payment.paid", 1, {**DATA, "fee": "1"}))
    body["livemode"] = True
    assert parse(json.dumps(body).encode()).kind is PaymentEvent.PAID


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b"null",
        b'"x"',
        b"\xff\xfe",
        b"{",
        b"[" * 10000 + b"]" * 10000,
        b'{"type":"payment.paid","created":1,"data":{}}',
        b'{"id":"","type":"payment.paid","created":1}',
        b'{"id":"evt 1","type":"payment.paid","created":1}',
        b'{"id":"' + b"a" * 200 + b'","type":"x","created":1}',
        b'{"id":"evt_1","type":"Payment.Paid","created":1}',
        b'{"id":"evt_1","type":"payment.paid","created":-1}',
        b'{"id":"evt_1","type":"payment.paid","created":"1"}',
        b'{"id":1,"type":"payment.paid","created":1}',
        b'{"id":"evt_1","type":"payment.paid","created":1,"data":[]}',
        b'{"id":"evt_1","type":"payment.paid","created":1,"data":{}}',
        b'{"id":"evt_1","type":"payment.paid","created":1,"data":{"paymentId":"p","reference":"r",'
        b'"amount":"NaN","currency":"EUR"}}',
        b'{"id":"evt_1","type":"payment.paid","created":1,"data":{"paymentId":"p","reference":"r",'
        b'"amount":"-1","currency":"EUR"}}',
        b'{"id":"evt_1","type":"payment.paid","created":1,"data":{"paymentId":"p","reference":"r",'
        b'"amount":"1","currency":"eur"}}',
        b'{"id":"evt_1","type":"payment.paid","created":1,"data":{"paymentId":"p q",'
        b'"reference":"r",'
        b'"amount":"1","currency":"EUR"}}',
    ],
)
def test_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedEvent) as caught:
        parse(body)
    assert b"a" * 50 not in str(caught.value).encode()
