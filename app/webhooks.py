"""`POST /webhooks/billbitts`: BillBitts' payment events (docs/INTEGRATIONS.md).

In order, each step refusing before the next costs anything:
1. `Content-Type: application/json` or 415;
2. a declared `Content-Length` over MAX_BODY_BYTES is 413 before a byte is read, and the
   body is read in chunks and refused (413) as soon as it passes the limit (chunked bodies);
3. `BillBitts-Signature` checked with WEBHOOK_SECRET (dpo.payments.signature): 400 for a
   missing or malformed header, 401 for a forgery or a timestamp outside ±300 s;
4. the body parsed (dpo.payments.events): 400 if it is not an event;
5. one short transaction applies, stores and de-duplicates it (dpo.payments.webhooks);
6. the answer; caches are told of a change after it is sent (a background task), so the
   Redis publish is not part of what BillBitts waits for.
Answers: 200 `{"received": true, "duplicate": false, "status": "processed"}` (also for a
duplicate, an unknown type or an order that needs ops: BillBitts must not retry those); 503
when WEBHOOK_SECRET is unset or the database is unreachable (BillBitts retries later).
Refused deliveries change nothing and are not stored. No answer or log quotes the body,
the header or the secret.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import Counter
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.http.metrics import REGISTRY
from dpo.db.session import unit_of_work
from dpo.inputs import is_ascii_digits
from dpo.invalidation import announce_write
from dpo.payments.events import MalformedEvent, parse
from dpo.payments.signature import HEADER, SignatureError, verify
from dpo.payments.webhooks import DUPLICATE, DuplicateDelivery, receive
from dpo.runtime import Runtime

logger = logging.getLogger(__name__)

PATH = "/webhooks/billbitts"
MAX_BODY_BYTES = 64 * 1024
DELIVERIES = Counter(
    "dpo_webhook_deliveries_total",
    "Webhook deliveries by provider and outcome (processed, ignored, failed, "
    "duplicate, or why they were refused).",
    ["provider", "outcome"],
    registry=REGISTRY,
)


class _TooLargeError(Exception):
    pass


def _answer(
    http_status: int, outcome: str, *, background: BackgroundTask | None = None, **body: object
) -> Response:
    DELIVERIES.labels("billbitts", outcome).inc()
    return JSONResponse(
        {"received": 200 <= http_status < 300, **body},
        status_code=http_status,
        background=background,
    )


async def _read_capped(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and is_ascii_digits(declared) and int(declared) > MAX_BODY_BYTES:
        raise _TooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


async def billbitts_webhook(request: Request) -> Response:
    """Verify, store and apply one BillBitts delivery."""
    runtime: Runtime = request.app.state.runtime
    secret = runtime.settings.webhook_secret
    if secret is None:
        logger.warning("billbitts webhook refused: WEBHOOK_SECRET is not set")
        return _answer(503, "not_configured", error="webhooks are not configured")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        return _answer(415, "unsupported_media", error="send application/json")
    try:
        body = await _read_capped(request)
    except _TooLargeError:
        logger.info("billbitts webhook refused: body over %d bytes", MAX_BODY_BYTES)
        return _answer(413, "too_large", error=f"body over {MAX_BODY_BYTES} bytes")
    try:
        verify(
            request.headers.get(HEADER),
            body,
            secrets=[secret.get_secret_value().encode()],
            now=time.time(),
        )
    except SignatureError as error:
        logger.info("billbitts webhook refused: signature %s", error.reason)
        return _answer(error.status, f"signature_{error.reason}", error=f"signature {error.reason}")
    try:
        event = parse(body)
    except MalformedEvent as error:
        logger.info("billbitts webhook refused: %s", error)
        return _answer(400, "malformed", error=str(error))
    try:
        async with unit_of_work(runtime.sessions) as session:
            result = await receive(session, event)
    except DuplicateDelivery:
        result = DUPLICATE  # rolled back: the first delivery of this event stands
    except (OperationalError, DBAPIError, OSError) as error:
        logger.warning(
            "billbitts webhook %s not stored (%s); BillBitts will retry",
            event.id,
            type(error).__name__,
        )
        return _answer(503, "unavailable", error="try again later")
    logger.info(
        "billbitts webhook %s %s: %s %s", event.id, event.type, result.status, result.reason
    )
    # Committed: answers and subscribers refresh, after BillBitts has its answer.
    tell = (
        BackgroundTask(announce_write, runtime.redis, channel=runtime.channels.invalidate)
        if result.changed
        else None
    )
    return _answer(
        200, result.status, background=tell, duplicate=result.duplicate, status=result.status
    )
