"""API-key commands: `dpo api-key create` and `dpo api-key revoke`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import click

from app.cli.common import settings
from dpo.embedded.stack import ensure_services

# Role names spelled out so `dpo --help` need not import the ORM models (a test keeps them
# equal to dpo.db.models.enums.Role).
ROLES = ("admin", "issuer", "ops", "investor")


@click.group("api-key")
def api_key() -> None:
    """Machine credentials for service calls (signed with API_HMAC_SECRET)."""


@api_key.command("create")
@click.option("--name", required=True, help="Who uses the key, e.g. 'job runner'.")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default="ops",
    show_default=True,
    help="What the key may do.",
)
@click.option(
    "--expires-days",
    type=click.IntRange(min=1),
    default=None,
    help="Days until the key stops working (default: never).",
)
def create(name: str, role: str, expires_days: int | None) -> None:
    """Create a key and print it once; only its hash is kept."""
    from dpo.auth.api_keys import create_api_key_in_database
    from dpo.db.models.enums import Role
    from dpo.errors import ValidationError

    loaded = settings()
    expires_at = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    services = ensure_services(loaded)
    try:
        full_key = asyncio.run(
            create_api_key_in_database(
                services.database_url,
                name=name,
                role=Role(role),
                settings=loaded,
                expires_at=expires_at,
            )
        )
    except ValidationError as error:
        raise click.BadParameter(error.message) from None
    finally:
        services.stop()
    click.echo(full_key)


@api_key.command("revoke")
@click.argument("prefix")
def revoke(prefix: str) -> None:
    """Revoke the key whose prefix (the part before the dot) is PREFIX."""
    from dpo.auth.api_keys import revoke_api_key_in_database

    services = ensure_services(settings())
    try:
        revoked = asyncio.run(revoke_api_key_in_database(services.database_url, prefix=prefix))
    finally:
        services.stop()
    if not revoked:
        raise click.ClickException(f"no live API key has the prefix {prefix}")
    click.echo(f"API key {prefix} revoked")
