"""The listener service: everything built from the settings, leadership, clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal

from prometheus_client import start_http_server
from redis.asyncio import Redis

from dpo.channels import channels_for
from dpo.db.session import create_engine, session_factory
from dpo.settings import CONTRACT_VARS, ConfigError, Settings
from listener.decode import Decoder
from listener.follower import Follower, FollowerConfig
from listener.heads import Heads, pushed_header
from listener.leader import Leader, LeadershipLostError
from listener.newheads import subscribe_headers
from listener.ports import RpcError
from listener.rpc import RpcClient, verify_chain
from listener.store import PgStore

logger = logging.getLogger(__name__)

# After a stop signal, how long the current batch may take to commit before it is abandoned
# (its transaction rolls back; the next start replays it).
STOP_GRACE_SECONDS = 10.0


def check_settings(settings: Settings) -> None:
    """Refuse to start without the four contract addresses and an RPC URL."""
    missing = [name for name in CONTRACT_VARS if not settings.contract_addresses()[name]]
    if missing:
        raise ConfigError(f"{', '.join(missing)}: required by the listener (not set)")
    if not settings.rpc_urls():
        raise ConfigError("BLOCKCHAIN_RPC_URL or QUICKNODE_URL: required by the listener (not set)")


def follower_config(settings: Settings) -> FollowerConfig:
    """The follower's knobs from the settings."""
    return FollowerConfig(
        chain_id=settings.chain_id,
        start_block=settings.start_block_number,
        confirmations=settings.listener_confirmations,
        use_finalized=settings.listener_use_finalized,
        poll_interval=settings.listener_poll_interval,
        reorg_window=settings.listener_reorg_window,
        concurrency=settings.listener_concurrency,
        batch_blocks=settings.listener_batch_blocks,
        max_batch_blocks=max(settings.listener_max_batch_blocks, 1),
        max_logs_in_flight=settings.listener_max_logs_in_flight,
    )


async def rewind(follower: Follower, block: int) -> None:
    """Remove everything above `block` (an operator's re-sync after a deep reorg)."""
    chain_id, store = follower.config.chain_id, follower.store
    checkpoint = await store.checkpoint(chain_id)
    if checkpoint is None or block >= checkpoint[0]:
        # Moving the checkpoint forward would skip blocks: a rewind only ever goes back.
        logger.info("--rewind %s: nothing stored above that block; nothing to rewind", block)
        return
    header = await follower.rpc.get_block(block)
    if header is None:
        raise ConfigError(f"--rewind: the node has no block {block}")
    stored = await store.event_blocks(chain_id, block + 1)
    if stored and await follower.chain_hash(stored[0][0]) != stored[0][1]:
        good = await follower.rewind_point(stored[0][0])
        raise ConfigError(
            f"--rewind {block}: block {stored[0][0]} holds events of a block no longer on the "
            f"chain, so rewinding to {block} would keep them; rewind to "
            f"{good if good is not None else 'an earlier block'} or lower"
        )
    result = await follower.revert(block, str(header["hash"]).lower())
    logger.warning(
        "rewound chain %s to block %s: %s events removed", chain_id, block, result.removed
    )


async def run_listener(
    settings: Settings,
    *,
    database_url: str,
    redis_url: str,
    stop: asyncio.Event,
    rewind_to: int | None = None,
) -> None:
    """Wait for the chain's listener lock, then follow the chain until `stop` is set.

    Raises LeadershipLostError if the lock is lost while active, DeepReorgError on a reorg
    deeper than the window, and the RPC's errors when the chain cannot be reached for good.
    """
    check_settings(settings)
    engine = create_engine(database_url, pool_size=max(2, settings.listener_concurrency))
    redis = Redis.from_url(redis_url)
    rpc = RpcClient.from_settings(settings)
    leader = Leader(database_url=database_url, chain_id=settings.chain_id)
    pushed = Heads()
    ws_urls = [url for url in settings.rpc_urls() if url.lower().startswith(("ws://", "wss://"))]
    heads = asyncio.create_task(watch_heads(ws_urls[0], pushed)) if ws_urls else None
    try:
        # The doorbell channel of the deployment: the Redis URL's database and the prefix.
        store = PgStore(
            session_factory(engine),
            redis=redis,
            channel=channels_for(redis_url, settings.redis_channel_prefix).feed,
        )
        follower = Follower(
            rpc=rpc,
            store=store,
            decoder=Decoder.from_settings(settings),
            config=follower_config(settings),
            fence=leader,
            heads=pushed if heads is not None else None,
        )
        await lead(follower, leader, stop, rewind_to=rewind_to)
    finally:
        if heads is not None:
            heads.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heads
        await rpc.aclose()
        await redis.aclose()
        await engine.dispose()


async def watch_heads(url: str, heads: Heads, *, retry_seconds: float = 5.0) -> None:
    """Record every head pushed over WebSocket in `heads` (waking the follower); resubscribe
    after failures.

    Polling continues meanwhile, so a lost subscription only makes the listener slower.
    """
    while True:
        try:
            async for header in subscribe_headers(url):
                heads.push(pushed_header(header))
        except RpcError as error:
            logger.warning("newHeads subscription failed (%s); polling meanwhile", error)
        await asyncio.sleep(retry_seconds)


async def lead(
    follower: Follower, leader: Leader, stop: asyncio.Event, *, rewind_to: int | None = None
) -> None:
    """Stand by until `leader` holds the lock, then follow until stop or lost leadership."""
    try:
        # A wrong chain is refused at once, standby or not.
        await verify_chain(follower.rpc, follower.config.chain_id)
        if not await leader.acquire(stop):
            return
        if rewind_to is not None:
            await rewind(follower, rewind_to)
        await _follow(follower, leader, stop)
    finally:
        await leader.release()


async def _follow(follower: Follower, leader: Leader, stop: asyncio.Event) -> None:
    """Run the follower until stop or lost leadership; give a committing batch a grace."""
    inner = asyncio.Event()
    task = asyncio.create_task(follower.run(inner))
    stopped = asyncio.create_task(stop.wait())
    lost = asyncio.create_task(leader.lost.wait())
    try:
        await asyncio.wait({task, stopped, lost}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            inner.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), STOP_GRACE_SECONDS)
            except TimeoutError:
                logger.warning(
                    "the current batch did not finish in %ss; abandoning it", STOP_GRACE_SECONDS
                )
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return
        task.result()
        if leader.lost.is_set() and not stop.is_set():
            raise LeadershipLostError(f"the listener lock of chain {leader.chain_id} was lost")
    finally:
        for waiter in (stopped, lost):
            waiter.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def freeze_heap() -> None:
    """Leave the objects alive at start-up (modules, ABIs, settings) out of the cyclic GC.

    A backfill allocates millions of short-lived objects; each full collection would also
    walk the start-up heap, which made collections ~30% of a backfill's CPU (bench/ingest).
    """
    gc.collect()
    gc.freeze()


def serve_metrics(settings: Settings) -> None:
    """Serve the listener's Prometheus metrics on LISTENER_METRICS_PORT (0: not served).

    Bound to every interface in production (a scraper on the private network), else to
    127.0.0.1. The metrics carry no secrets: endpoints appear as scheme://host only.
    """
    if settings.listener_metrics_port:
        host = "0.0.0.0" if settings.is_production else "127.0.0.1"  # noqa: S104
        start_http_server(settings.listener_metrics_port, addr=host)
        logger.info("listener metrics on %s:%s/metrics", host, settings.listener_metrics_port)


def serve(
    settings: Settings, *, database_url: str, redis_url: str, rewind_to: int | None = None
) -> None:
    """Run the listener in this process; SIGTERM and SIGINT stop it cleanly."""
    freeze_heap()
    serve_metrics(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_listener(
            settings, database_url=database_url, redis_url=redis_url, stop=stop, rewind_to=rewind_to
        )
        logger.info("listener stopped")

    asyncio.run(main())


def main(settings: Settings, *, rewind_to: int | None = None) -> int:
    """The `dpo listener` command: start what is missing, run, and map failures to exit codes.

    0 after a clean stop, 2 for configuration problems (including the wrong chain), 1 when
    the listener had to stop (deep reorg, lost leadership, provider gone).
    """
    from dpo.embedded.stack import ensure_services
    from listener.reorg import DeepReorgError
    from listener.rpc import ChainMismatchError

    check_settings(settings)
    services = ensure_services(settings)
    try:
        serve(
            settings,
            database_url=services.database_url,
            redis_url=services.redis_url,
            rewind_to=rewind_to,
        )
    except ChainMismatchError as error:
        logger.error("%s", error)
        return 2
    except (DeepReorgError, LeadershipLostError, RpcError) as error:
        logger.critical("listener stopped: %s", error)
        return 1
    finally:
        services.stop()
    return 0
