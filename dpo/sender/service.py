"""`dpo sender`: one active sender per chain and account, passes until SIGTERM.

Leadership is a PostgreSQL advisory lock on a connection of its own (dpo/runs/lock.py), keyed
by chain and account: a standby polls every second and takes over when the active process
dies (its connection closes, the lock goes). Before every pass the active sender checks the
lock's connection and stops (exit 1) if it is gone. Even two active senders could not send
twice: the unique (chain, sender, nonce) key refuses a second write of a nonce, the intent
row is locked while it is signed, and the contracts refuse a reference twice.

SIGTERM/SIGINT: the current pass may finish for STOP_SECONDS, then it is cancelled, which is
safe anywhere (what was signed is stored; the next start broadcasts it again). Exit codes: 0
clean stop, 2 configuration (no key, contracts or RPC URL; the RPC on another chain), 1 lost
leadership.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from eth_account import Account
from prometheus_client import start_http_server
from sqlalchemy.exc import DBAPIError

from dpo.db.session import create_engine, session_factory
from dpo.runs.lock import AdvisoryLock, stand_by
from dpo.sender.calls import Contracts
from dpo.sender.chain import Chain
from dpo.sender.policy import FeeCaps
from dpo.sender.rpc import Rpc, RpcCallError, RpcUnavailableError
from dpo.sender.tend import Config
from dpo.sender.worker import Worker
from dpo.settings import ConfigError, Settings

logger = logging.getLogger(__name__)

STOP_SECONDS = 10.0
MAX_BACKOFF = 30.0
GWEI = 10**9


class LeadershipLostError(RuntimeError):
    """The sender lock's connection is gone: another sender may be active now."""


def check_settings(settings: Settings) -> None:
    """Refuse to start without the key, the two contracts and an RPC URL (one line each)."""
    if settings.wallet_private_key is None:
        raise ConfigError("WALLET_PRIVATE_KEY: required by the sender (not set)")
    missing = [
        name
        for name in ("STO_CONTRACT_ADDRESS", "ISSUANCE_CONTRACT_ADDRESS")
        if not settings.contract_addresses()[name]
    ]
    if missing:
        raise ConfigError(f"{', '.join(missing)}: required by the sender (not set)")
    if not settings.rpc_urls():
        raise ConfigError("BLOCKCHAIN_RPC_URL or QUICKNODE_URL: required by the sender (not set)")


def config_of(settings: Settings) -> Config:
    """The worker's knobs from SENDER_* settings."""
    return Config(
        max_in_flight=settings.sender_max_in_flight,
        replace_after=settings.sender_replace_after,
        resend_after=settings.sender_resend_after,
        nonce_taken_after=settings.sender_nonce_taken_after,
        caps=FeeCaps(
            max_fee=int(settings.sender_max_fee_gwei * GWEI),
            tip=int(settings.sender_max_priority_fee_gwei * GWEI),
            bump_percent=settings.sender_fee_bump_percent,
        ),
        gas_headroom_percent=settings.sender_gas_headroom_percent,
        confirmations=settings.sender_confirmations,
    )


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def run_sender(settings: Settings, *, database_url: str, stop: asyncio.Event) -> None:
    """Wait for the lock, then run passes until `stop` is set."""
    check_settings(settings)
    assert settings.wallet_private_key is not None
    account = Account.from_key(settings.wallet_private_key.get_secret_value())
    addresses = settings.contract_addresses()
    contracts = Contracts(
        sto=str(addresses["STO_CONTRACT_ADDRESS"]),
        issuance=str(addresses["ISSUANCE_CONTRACT_ADDRESS"]),
    )
    rpc = Rpc(settings.rpc_urls(), timeout=settings.rpc_timeout)
    chain = Chain(rpc, contracts, account.address)
    engine = create_engine(database_url, pool_size=4)
    lock: AdvisoryLock | None = None
    try:
        chain_id = await _chain_id(chain, stop)
        if chain_id is None:
            return
        if chain_id != settings.chain_id:
            raise ConfigError(
                f"BLOCKCHAIN_NETWORK: the RPC serves chain {chain_id}, not {settings.chain_id}"
            )
        lock = AdvisoryLock(database_url, f"sender:{chain_id}:{account.address.lower()}")
        if not await stand_by(
            lock, stop, name="sender", retry=1.0, others="another sender of this account is active"
        ):
            return
        logger.info("sender of %s on chain %s active", account.address, chain_id)
        worker = Worker(
            sessions=session_factory(engine),
            chain=chain,
            account=account,
            chain_id=chain_id,
            config=config_of(settings),
        )
        await _loop(worker, lock, stop, settings.sender_poll_interval)
    finally:
        if lock is not None:
            await lock.release()
        await rpc.aclose()
        await engine.dispose()


async def _chain_id(chain: Chain, stop: asyncio.Event) -> int | None:
    delay = 1.0
    while not stop.is_set():
        try:
            return await chain.chain_id()
        except (RpcUnavailableError, RpcCallError) as error:
            logger.warning("cannot read the chain id (%s); retrying in %.0fs", error, delay)
            await _wait(stop, delay)
            delay = min(MAX_BACKOFF, delay * 2)
    return None


async def _loop(
    worker: Worker, lock: AdvisoryLock, stop: asyncio.Event, poll_interval: float
) -> None:
    delay = poll_interval
    while not stop.is_set():
        if not await lock.alive():
            raise LeadershipLostError("the sender lock's connection is gone")
        task = asyncio.create_task(worker.run_pass())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not task.done():
            done, _ = await asyncio.wait({task}, timeout=STOP_SECONDS)
            if not done:
                logger.warning(
                    "the pass did not end within %ss of the stop; cancelled "
                    "(what it signed is stored and resent at the next start)",
                    STOP_SECONDS,
                )
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return
        try:
            moved = task.result()
            delay = 0.0 if moved else poll_interval
        except (RpcUnavailableError, RpcCallError) as error:
            delay = min(MAX_BACKOFF, max(delay * 2, poll_interval))
            logger.warning("pass stopped by the RPC (%s); next in %.1fs", error, delay)
        except (DBAPIError, OSError) as error:
            delay = min(MAX_BACKOFF, max(delay * 2, poll_interval))
            logger.warning(
                "pass stopped by the database (%s); next in %.1fs", type(error).__name__, delay
            )
        await _wait(stop, delay)


def serve(settings: Settings, *, database_url: str) -> None:
    """Run the sender in this process; SIGTERM and SIGINT stop it cleanly."""
    if settings.sender_metrics_port:
        host = "0.0.0.0" if settings.is_production else "127.0.0.1"  # noqa: S104
        start_http_server(settings.sender_metrics_port, addr=host)
        logger.info("sender metrics on %s:%s/metrics", host, settings.sender_metrics_port)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_sender(settings, database_url=database_url, stop=stop)
        logger.info("sender stopped")

    asyncio.run(main())


def main(settings: Settings) -> int:
    """The `dpo sender` command: 0 clean stop, 2 configuration, 1 lost leadership."""
    from dpo.embedded.stack import ensure_services

    check_settings(settings)
    services = ensure_services(settings)
    try:
        serve(settings, database_url=services.database_url)
    except LeadershipLostError as error:
        logger.critical("sender stopped: %s", error)
        return 1
    finally:
        services.stop()
    return 0
