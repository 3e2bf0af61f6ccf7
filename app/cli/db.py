"""Database commands: migrate, showmigrations, makemigrations, create-admin."""

from __future__ import annotations

import asyncio
import getpass
import sys

import click

from app.cli.common import settings
from dpo.embedded.stack import ensure_services


@click.command()
@click.argument("revision", default="head")
@click.option("--noinput", "--no-input", is_flag=True, help="Accepted for the runbook; never asks.")
def migrate(revision: str, noinput: bool) -> None:
    """Apply migrations up to REVISION (default head); a lower one downgrades."""
    from dpo.db.migrate import current, downgrade, history, upgrade

    services = ensure_services(settings())
    try:
        known = [rev for rev, _message, _applied in history(services.database_url)]
        now = current(services.database_url)
        if revision not in ("head", "base") and revision not in known:
            raise click.BadParameter(f"unknown revision {revision!r}", param_hint="REVISION")
        lower = revision == "base" or (
            now is not None and revision in known and known.index(revision) < known.index(now)
        )
        if lower:
            downgrade(services.database_url, revision)
        else:
            upgrade(services.database_url, revision)
        click.echo(f"database at {current(services.database_url) or 'base'}")
    finally:
        services.stop()


@click.command()
def showmigrations() -> None:
    """List migrations, [X] where applied."""
    from dpo.db.migrate import history

    services = ensure_services(settings())
    try:
        for revision, message, applied in history(services.database_url):
            click.echo(f" [{'X' if applied else ' '}] {revision}  {message}")
    finally:
        services.stop()


@click.command()
@click.option("-m", "--message", required=True, help="What the migration does.")
def makemigrations(message: str) -> None:
    """Write a new Alembic revision from the models' differences with the database."""
    from dpo.db.migrate import autogenerate

    services = ensure_services(settings())
    try:
        path = autogenerate(services.database_url, message)
        click.echo(f"wrote {path}; review it before committing (Alembic autogenerate)")
    finally:
        services.stop()


@click.command("create-admin")
@click.option("--email", prompt=True, help="The admin's sign-in e-mail.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_admin(email: str, password_stdin: bool) -> None:
    """Create a staff user with the admin role (the runbook's createsuperuser)."""
    from dpo.auth.staff import UserExistsError, create_admin_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password (again): ") != password:
            raise click.BadParameter("the passwords differ", param_hint="password")
    services = ensure_services(settings())
    try:
        user_id = asyncio.run(
            create_admin_user(services.database_url, email=email, password=password)
        )
    except UserExistsError as error:
        raise click.ClickException(str(error)) from None
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    finally:
        services.stop()
    click.echo(f"admin {email} created (id {user_id})")
