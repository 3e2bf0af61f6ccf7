"""`dpo sender` (the platform wallet's transaction sender) and its operator commands."""

from __future__ import annotations

import asyncio
import sys

import click

from app.cli.common import settings


@click.group(invoke_without_command=True)
@click.pass_context
def sender(ctx: click.Context) -> None:
    """Sign and send the platform wallet's chain intents (one active per account)."""
    if ctx.invoked_subcommand is None:
        from dpo.sender.service import main

        sys.exit(main(settings()))


async def _with_sessions(action: str, intent_id: int | None) -> int:
    from dpo.db.session import create_engine, session_factory
    from dpo.embedded.stack import ensure_services
    from dpo.sender import ops

    services = ensure_services(settings())
    engine = create_engine(services.database_url, pool_size=1)
    try:
        sessions = session_factory(engine)
        if action == "retry":
            assert intent_id is not None
            before = await ops.retry(sessions, intent_id)
            if before is None:
                click.echo(f"intent {intent_id}: not reverted or failed; nothing done", err=True)
                return 1
            click.echo(
                f"intent {intent_id}: {before} -> pending (checked on chain again "
                "before it is sent)"
            )
            return 0
        for state, count in sorted((await ops.counts(sessions)).items()):
            click.echo(f"{state}: {count}")
        return 0
    finally:
        await engine.dispose()
        services.stop()


@sender.command()
@click.argument("intent_id", type=click.IntRange(min=1))
def retry(intent_id: int) -> None:
    """Send a reverted or failed intent again once its cause is fixed."""
    sys.exit(asyncio.run(_with_sessions("retry", intent_id)))


@sender.command()
def status() -> None:
    """Intents by state."""
    sys.exit(asyncio.run(_with_sessions("status", None)))
