"""`dpo up`: the whole system on a laptop, stopped cleanly by Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import click

from app.cli.common import NOT_AVAILABLE, settings
from dpo.embedded.anvil import DEV_PRIVATE_KEY
from dpo.embedded.stack import ensure_services


def demo_payments(env: dict[str, str], data_dir: Path) -> dict[str, str]:
    """The demo's BillBitts secrets (sandbox only): a webhook secret and a signing key file.

    Kept as given when the environment sets them; the key is made once under DPO_DATA_DIR.
    """
    values = {"WEBHOOK_SECRET": env.get("WEBHOOK_SECRET") or "sandbox-webhook-secret"}
    if env.get("BILLBITTS_PRIVATE_KEY_PATH"):
        return values
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    path = data_dir / "billbitts-sandbox.pem"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key)
    values["BILLBITTS_PRIVATE_KEY_PATH"] = str(path.resolve())
    return values


def _spawn(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    click.echo(f"  starting {name}")
    return subprocess.Popen([sys.executable, "-m", "app", *args], env=env)


def _seed_demo(database_url: str, rpc_url: str, token: str, sandbox_url: str) -> None:
    """The demo's book (sandbox/demo.py), once the sandbox answers; before the listener starts,
    so it finds the offering when it reads the issuance."""
    import httpx

    from sandbox.demo import seed_demo

    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{sandbox_url}/ecb/_sandbox/requests", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                click.echo("  demo book not planted: the sandbox did not start", err=True)
                return
            time.sleep(0.1)
    try:
        asyncio.run(
            seed_demo(
                database_url=database_url, rpc_url=rpc_url, token=token, sandbox_url=sandbox_url
            )
        )
    except Exception as error:  # the demo runs on without its book, and says why
        click.echo(f"  demo book not planted: {type(error).__name__}: {error}"[:500], err=True)
        return
    click.echo("  demo book planted (one deliberate reconciliation break at Clearstream)")


@click.command()
@click.option("--port", type=int, default=None, help="Web port (default: $PORT or 8000).")
@click.option(
    "--demo",
    is_flag=True,
    help="Demo mode: DEBUG on (GraphiQL), providers simulated by `dpo sandbox`.",
)
def up(port: int | None, demo: bool) -> None:
    """Start embedded servers, a local chain, web, listener and scheduler."""
    from dpo.chain.local import ensure_local_contracts
    from dpo.db.migrate import upgrade

    config = settings()
    services = ensure_services(config, chain=True)
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        upgrade(services.database_url)
        env = {
            **os.environ,
            "DATABASE_URL": services.database_url,
            "REDIS_URL": services.redis_url,
            "DEBUG": "true" if demo else os.environ.get("DEBUG", "false"),
        }
        if services.rpc_url:
            env["BLOCKCHAIN_RPC_URL"] = services.rpc_url
        if services.local_chain and services.rpc_url:
            # Our own local chain: deploy the contracts once and hand their addresses over.
            env.update(
                asyncio.run(
                    ensure_local_contracts(services.rpc_url, config.data_dir / "contracts.env")
                )
            )
        web_port = port or config.port
        if demo:
            # The outside world simulated on 127.0.0.1, and every provider setting aimed at it.
            from dpo.embedded.process import free_port
            from sandbox.server import environment

            sandbox_port = free_port()
            env.update(demo_payments(env, config.data_dir))
            children["sandbox"] = _spawn(
                "sandbox",
                [
                    "sandbox",
                    "--port",
                    str(sandbox_port),
                    "--webhook-url",
                    f"http://127.0.0.1:{web_port}/webhooks/billbitts",
                ],
                env,
            )
            env.update(environment(f"http://127.0.0.1:{sandbox_port}"))
            # Short intervals, so every job shows in `jobRuns` within the first minute.
            env.setdefault("JOBS_SCHEDULE", "demo")
            env.setdefault("OPS_EMAIL", "ops@example.com")  # the sandbox's Omnisend keeps it
            if services.local_chain and services.rpc_url:
                _seed_demo(
                    services.database_url,
                    services.rpc_url,
                    env["ISSUANCE_CONTRACT_ADDRESS"],
                    f"http://127.0.0.1:{sandbox_port}",
                )
        children["web"] = _spawn("web", ["web", "--port", str(web_port)], env)
        children["listener"] = _spawn("listener", ["listener"], env)
        if services.local_chain and services.rpc_url:
            # Our chain's deployer is an agent of the contracts: it signs the platform's
            # transactions (record and issue paid orders) unless a key is configured.
            env.setdefault("WALLET_PRIVATE_KEY", DEV_PRIVATE_KEY)
            # One node that mines only when a transaction comes: no reorg can happen, and the
            # blocks that would confirm an intent might never come (docs/SENDER.md).
            env.setdefault("SENDER_CONFIRMATIONS", "0")
            children["sender"] = _spawn("sender", ["sender"], env)
        children["scheduler"] = _spawn("scheduler", ["jobs", "schedule"], env)
        click.echo(
            f"\nGraphiQL   http://127.0.0.1:{web_port}/graphql\n"
            f"Health     http://127.0.0.1:{web_port}/api/health/\n"
            f"PostgreSQL {services.database_url}\nRedis      {services.redis_url}\n"
            f"Chain RPC  {services.rpc_url}\n"
            + (f"Sandbox    {env['EUROCLEAR_API_BASE'].rsplit('/', 1)[0]}\n" if demo else "")
            + "Press Ctrl-C to stop.\n"
        )
        while not stopping:
            for name, child in list(children.items()):
                code = child.poll()
                if code is None:
                    continue
                del children[name]
                if code == NOT_AVAILABLE:
                    click.echo(f"  {name}: not available yet in this version")
                elif name == "web":
                    raise click.ClickException(f"web exited with {code}")
                else:
                    click.echo(f"  {name} exited with {code}", err=True)
            time.sleep(0.2)
    finally:
        click.echo("stopping…")
        for child in children.values():
            child.send_signal(signal.SIGTERM)
        for child in children.values():
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
        services.stop()
        click.echo("stopped")
