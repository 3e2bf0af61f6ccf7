"""What every CLI command shares: settings loading and the not-available exit."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import click

from dpo.logs import configure_logging
from dpo.railway_urls import public_urls
from dpo.settings import Settings, get_settings

# Exit code of a command whose capability is not built yet: distinct from failure (1)
# and usage errors (2), so scripts and `dpo up` can tell it apart.
NOT_AVAILABLE = 3


def not_available(what: str) -> NoReturn:
    """Say plainly that a capability is not built yet, and exit non-zero."""
    click.echo(f"dpo: {what} is not available yet in this version; nothing was done.", err=True)
    sys.exit(NOT_AVAILABLE)


def service_name() -> str:
    """The running command as the `service` of log lines: `web`, `listener`, `jobs schedule`…"""
    context = click.get_current_context(silent=True)
    if context is None:
        return "dpo"
    return context.command_path.partition(" ")[2] or context.command_path


def public_urls_requested() -> bool:
    """Whether the command line asked for the databases' public URLs (`dpo --public-urls`)."""
    context = click.get_current_context(silent=True)
    return bool(context is not None and context.find_root().params.get("public_urls"))


def settings() -> Settings:
    """The settings, with logging configured from them (format, service, secrets to redact).

    With `dpo --public-urls`, DATABASE_URL and REDIS_URL are first replaced by the public
    URLs (dpo/railway_urls.py), in this process's environment, as if Railway had set them.
    """
    if public_urls_requested():
        os.environ.update(public_urls(os.environ))
    loaded = get_settings()
    configure_logging(
        loaded.log_level,
        json=loaded.log_json,
        service=service_name(),
        secrets=loaded.secret_values(),
    )
    return loaded
