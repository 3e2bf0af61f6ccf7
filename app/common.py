"""What every CLI command shares: settings loading and the not-available exit."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from dpo.logs import configure_logging
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


def settings() -> Settings:
    """The settings, with logging configured from them (format, service, secrets to redact)."""
    loaded = get_settings()
    configure_logging(loaded.log_level, json=loaded.log_json, service=service_name(),
                      secrets=loaded.secret_values())
    return loaded
