"""Payments: BillBitts payment requests, its signed webhooks and the order's payment states.

- `signature`: the `BillBitts-Signature` header (HMAC-SHA256, several `v1`, ±300 s), pure.
- `events`: a webhook body as a typed event, pure.
- `states`: what an event does to an order in a given state (out of order included), pure.
- `webhooks`: storing a delivery and applying it in one short transaction.
- `requests`: asking BillBitts for a payment request, now or later (the pending ones).
"""
