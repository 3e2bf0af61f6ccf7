"""Omnisend v3: transactional e-mail through custom events (`POST /v3/events`).

An event names a custom event by its `systemName`; an automation in Omnisend sends the
e-mail it is built for to the contact (`email`), with our `fields` as its variables. The
API key travels in `X-API-KEY`. Sending is not idempotent on Omnisend's side, so a send is
retried only when the request surely did not arrive (connect errors, 429); the outbox worker
owns de-duplication.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx

from dpo.errors import ProviderMalformed, ValidationError
from dpo.providers.http import ProviderHttp

PROVIDER = "omnisend"
_SYSTEM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


class OmnisendClient:
    """Sends custom events that trigger Omnisend's transactional e-mails."""

    def __init__(self, http: ProviderHttp, *, from_email: str) -> None:
        self.http = http
        self.from_email = from_email

    async def send_event(
        self, system_name: str, *, email: str, fields: Mapping[str, str | int | bool]
    ) -> None:
        """Trigger the custom event `system_name` for the contact `email`."""
        if not _SYSTEM_NAME.match(system_name):
            raise ValidationError("not an event system name", field="system_name")
        if not _EMAIL.match(email):
            raise ValidationError("not an e-mail address", field="email")
        body = {
            "systemName": system_name,
            "name": system_name.replace("_", " "),
            "email": email,
            "fields": {**fields, "fromEmail": self.from_email},
        }
        await self.http.call("POST", "events", _accepted, json=body, idempotent=False)


def _accepted(response: httpx.Response, body: bytes) -> None:
    # Omnisend answers 200/202/204 with an empty body or a JSON object; anything else
    # means we are not talking to the API we think.
    if not body.strip():
        return
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        raise ProviderMalformed(PROVIDER, "unexpected answer (not JSON)") from None
    if not isinstance(parsed, dict):
        raise ProviderMalformed(PROVIDER, "unexpected answer (not an object)")
