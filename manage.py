#!/usr/bin/env python
"""The runbook's `python manage.py <command>` names, carried over to the `dpo` command."""

from __future__ import annotations

import sys

from app.cli import main

# Django command name -> dpo arguments (the rest of the command line is passed on).
COMMANDS: dict[str, list[str]] = {
    "run_blockchain_listener": ["listener"],
    "sync_csd": ["jobs", "run", "sync_csd"],
    "sync_fx_rates": ["jobs", "run", "sync_fx_rates"],
    "reconcile_positions": ["jobs", "run", "reconcile_positions"],
    "migrate": ["migrate"],
    "showmigrations": ["showmigrations"],
    "makemigrations": ["makemigrations"],
    "createsuperuser": ["create-admin"],
    "check": ["check"],
    "runserver": ["web"],
}

MAKEMIGRATIONS_HELP = (
    "Migrations are Alembic revisions in migrations/versions/. The equivalent of "
    '`makemigrations` is `dpo makemigrations -m "what changed"` (Alembic autogenerate '
    "against the database), after which the new file is reviewed by hand and committed."
)


def run(argv: list[str]) -> None:
    """Translate one runbook command line and run it.

    A leading `--public-urls` is passed on to `dpo` (docs/RUNBOOK.md, "One-off commands").
    """
    options = argv[:1] if argv[:1] == ["--public-urls"] else []
    argv = argv[len(options) :]
    if not argv or argv[0] in ("help", "-h", "--help"):
        print(
            "usage: manage.py <command> [options]\ncommands: "
            + ", ".join([*COMMANDS, "collectstatic"])
        )
        sys.exit(0 if argv else 2)
    name, rest = argv[0], argv[1:]
    if name == "collectstatic":
        # The API serves no static files (GraphiQL loads from its own page), so there is
        # nothing to collect; succeed so existing deploy scripts keep working.
        print("collectstatic: nothing to collect — this service serves no static files.")
        return
    if name == "makemigrations" and "-m" not in rest and "--message" not in rest:
        print(MAKEMIGRATIONS_HELP)
        sys.exit(2)
    if name not in COMMANDS:
        print(f"manage.py: unknown command {name!r}", file=sys.stderr)
        sys.exit(2)
    main([*options, *COMMANDS[name], *rest])


if __name__ == "__main__":
    run(sys.argv[1:])
