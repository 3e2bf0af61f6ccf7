"""`dpo sandbox`: the simulated outside world (ECB, Xetra, Euroclear, Clearstream, Omnisend,
BillBitts)."""

from __future__ import annotations

import click

from app.cli.common import settings

DEFAULT_PORT = 8700


@click.command()
@click.option(
    "--port",
    type=click.IntRange(1024, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port on 127.0.0.1 serving every simulator under its own prefix.",
)
@click.option(
    "--webhook-url",
    default=None,
    help="Where the BillBitts simulator sends its signed webhooks (with WEBHOOK_SECRET), "
    "e.g. http://127.0.0.1:8000/webhooks/billbitts.",
)
def sandbox(port: int, webhook_url: str | None) -> None:
    """Serve the provider simulators on 127.0.0.1 (development and tests only).

    Prints the settings that point the platform at them; state and faults are planted
    through /<provider>/_sandbox/{state,faults,reset,requests} (docs/INTEGRATIONS.md).
    """
    import uvicorn

    from sandbox.server import World, environment, quiet_drops

    config = settings()
    world = World()
    quiet_drops()
    if webhook_url and config.webhook_secret is not None:
        world.billbitts.plant(
            {"webhook": {"url": webhook_url, "secrets": [config.webhook_secret.get_secret_value()]}}
        )
    if config.billbitts_private_key_path is not None:
        # Requests must then carry the platform's signature, as at BillBitts.
        world.billbitts.use_public_key(config.billbitts_private_key_path.read_bytes())
    url = f"http://127.0.0.1:{port}"
    click.echo(f"sandbox at {url}; point the platform at it with:")
    for name, value in environment(url, world.keys).items():
        click.echo(f"  {name}={value}")
    uvicorn.run(
        world.app(),
        host="127.0.0.1",
        port=port,
        log_config=None,
        log_level=config.log_level.lower(),
        lifespan="off",
    )
