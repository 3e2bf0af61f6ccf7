"""Chain commands: deploy the four contracts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from app.cli.common import settings


@click.group()
def contracts() -> None:
    """The Issuance, STO, DerivativesReporter and EuroclearBridge contracts."""


@contracts.command("deploy")
@click.option("--rpc-url", default=None, help="JSON-RPC URL (default: the configured RPC).")
@click.option(
    "--write-env",
    "env_file",
    type=click.Path(path_type=Path),
    default=Path(".env"),
    show_default=True,
    help="Dotenv file to record the addresses in.",
)
@click.option("--dev-key", is_flag=True, help="Sign with anvil's first development key.")
def deploy(rpc_url: str | None, env_file: Path, dev_key: bool) -> None:
    """Deploy all four contracts and record their addresses where the settings read them."""
    # web3 and eth-account take seconds to import: only this command pays for them.
    from dpo.chain.deploy import DeployError, deploy_all, write_env
    from dpo.embedded.anvil import DEV_PRIVATE_KEY

    config = settings()
    url = rpc_url or next(iter(config.rpc_urls()), None)
    if url is None:
        raise click.UsageError("no RPC: pass --rpc-url or set QUICKNODE_URL/BLOCKCHAIN_RPC_URL")
    if dev_key:
        key = DEV_PRIVATE_KEY
    elif config.wallet_private_key is not None:
        key = config.wallet_private_key.get_secret_value()
    else:
        raise click.UsageError("no signing key: set WALLET_PRIVATE_KEY or pass --dev-key")
    try:
        addresses = asyncio.run(deploy_all(url, key))
    except DeployError as error:
        raise click.ClickException(str(error)) from None
    write_env(env_file, addresses)
    for name, address in addresses.items():
        click.echo(f"{name}={address}")
    click.echo(f"recorded in {env_file}")
