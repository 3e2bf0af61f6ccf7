"""The chain follower: backfill to the safe head, then follow it, reverting reorgs.

Every range of blocks becomes one batch that commits its events, projections and checkpoint
in one transaction; the feed is published to Redis only after the commit. Both happen behind
the Store port, the chain behind the Rpc port (listener.ports): the follower holds the loop and
the decisions, no SQL. Fetches of several ranges run concurrently (listener.prepare), but
batches are applied strictly in block order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from listener import metrics
from listener import tip as tips
from listener.decode import Decoder
from listener.fetch import ChainMovedError, check_follows, hex_str, to_int
from listener.heads import Heads, Pushed, extends, observe_fetched, read_head
from listener.inflight import InFlight
from listener.period import Period
from listener.ports import Fence, Rpc, Store
from listener.prepare import Prepared, RangeSource
from listener.progress import Progress
from listener.ranges import RangeSizer
from listener.reorg import DeepReorgError, walk_back
from listener.rpc import verify_chain
from listener.store_types import ReorgDetectedError, RevertResult
from listener.waiting import StoppedError, backoff, retry_reason, until

__all__ = ["Fence", "Follower", "FollowerConfig", "Prepared", "StoppedError"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FollowerConfig:
    """What the follower needs from the settings."""

    chain_id: int
    start_block: int = 0
    confirmations: int = 0
    use_finalized: bool = False
    poll_interval: float = 1.0
    reorg_window: int = 128
    concurrency: int = 4
    batch_blocks: int = 2_000
    max_batch_blocks: int = 50_000
    # Logs the ranges in flight may hold together (fetched, decoded, being committed): what
    # bounds the backfill's memory; each range aims at its share (docs/LISTENER.md, "Memory").
    max_logs_in_flight: int = 20_000


class Follower:
    """Follows one chain into the database; `run` returns when `stop` is set."""

    def __init__(
        self,
        *,
        rpc: Rpc,
        store: Store,
        decoder: Decoder,
        config: FollowerConfig,
        fence: Fence | None = None,
        progress: Progress | None = None,
        heads: Heads | None = None,
        period: Period | None = None,
    ) -> None:
        self.rpc = rpc
        self.store = store
        self.decoder = decoder
        self.config = config
        self.fence = fence
        self.progress = progress or Progress()
        self.sizer = RangeSizer(
            initial=config.batch_blocks,
            maximum=config.max_batch_blocks,
            max_results=max(1, config.max_logs_in_flight // config.concurrency),
        )
        self.next_block = config.start_block
        self.tip: tuple[int, str] | None = None
        # Pushed heads (newHeads) end an idle wait; their pass uses the push (listener.heads).
        self.heads = heads
        self.period = period or Period(config.poll_interval)
        self.source = RangeSource(
            rpc, self.sizer, decoder, decoder.addresses, config.chain_id, asyncio.Lock()
        )
        #: Header fetches answered from a push (tests and the benchmark read it).
        self.saved = 0
        # The newest head and when it was seen (time.time()): the zero of the tip's stages.
        self.seen: tuple[int, float] = (-1, 0.0)

    async def run(self, stop: asyncio.Event) -> None:
        """Verify the chain, resume from the checkpoint and follow until `stop` is set.

        Provider outages, refused answers and transient database errors (a terminated
        connection, a statement timeout) are retried here with backoff; after a database
        error the follower resumes from the committed checkpoint, as a restart would.
        """
        await verify_chain(self.rpc, self.config.chain_id)
        failures = 0
        resumed = halt_cleared = False
        with contextlib.suppress(StoppedError):
            while not stop.is_set():
                try:
                    if not resumed:
                        await self.resume()
                        resumed = True
                    self.period.started()
                    busy = await self.step(stop)
                    if not halt_cleared:  # our tip is on the chain again (after a rewind)
                        await self.store.set_halt(self.config.chain_id, None)
                        halt_cleared = True
                except Exception as error:
                    what = retry_reason(error)
                    if what is None:
                        raise
                    # Nothing uncommitted is kept across this. After a database error the
                    # COMMIT's outcome may be unknown: resume from the checkpoint, as a restart
                    # would, without exiting.
                    resumed = resumed and not what.startswith("database")
                    failures += 1
                    delay = backoff(self.config.poll_interval, failures)
                    logger.warning("%s; retrying in %.1fs", what, delay)
                    await until(stop, asyncio.sleep(delay))
                    continue
                failures = 0
                if not busy:
                    await until(stop, self.period.wait(self.heads))

    async def resume(self) -> None:
        """Continue after the checkpoint, or from the start block."""
        checkpoint = await self.store.checkpoint(self.config.chain_id)
        if checkpoint is None:
            self.next_block, self.tip = self.config.start_block, None
        else:
            self.next_block, self.tip = checkpoint[0] + 1, checkpoint
        logger.info(
            "listener for chain %s resumes at block %s", self.config.chain_id, self.next_block
        )

    async def step(self, stop: asyncio.Event) -> bool:
        """One pass: check our tip, then sync up to the safe head; True after a reorg."""
        head, pushed, self.seen = await read_head(self.heads, self.rpc, self.seen)
        metrics.HEAD_BLOCK.set(head)
        return await self._pass(head, pushed, stop)

    async def _pass(self, head: int, pushed: Pushed | None, stop: asyncio.Event) -> bool:
        tip = self.tip  # a push that builds on it needs no check of its hash
        skip = tip is None or head < tip[0] or extends(pushed, tip)
        if not skip and await self.check_reorg():
            return True
        safe = await self.safe_head(head)
        if safe < self.next_block:
            if self.tip is not None:
                metrics.LAG_BLOCKS.set(max(0, head - self.tip[0]))
            return False
        try:
            await self.sync(safe, head, stop, pushed)
        except (ChainMovedError, ReorgDetectedError) as moved:
            if isinstance(moved, ChainMovedError) and moved.reason != "chain_moved":
                raise  # a node's answers could not be trusted: `run` backs off
            # Wait a poll interval: the next pass checks our tip against the chain.
            logger.info("chain moved during a fetch (%s); fetching again", moved)
            return False
        # Synced to the head: the next poll is due on the grid (at once after a long pass).
        return False

    async def safe_head(self, head: int) -> int:
        """The highest block we may process: finalized, or head minus confirmations."""
        if self.config.use_finalized:
            block = await self.rpc.get_block("finalized")
            return -1 if block is None else to_int(block["number"])
        return head - self.config.confirmations

    async def check_reorg(self) -> bool:
        """Compare our stored blocks with the chain; revert a reorg. True if one was reverted."""
        assert self.tip is not None
        tip_number, tip_hash = self.tip
        current = await self.chain_hash(tip_number)
        if current is None or current == tip_hash:
            return False  # in sync, or a lagging node: never a reorg
        chain_id = self.config.chain_id
        stored = await tips.stored_window(self.store, chain_id, self.tip, self.config.reorg_window)
        try:
            verdict = await walk_back(chain_id=chain_id, stored=stored, chain_hash=self.chain_hash)
        except DeepReorgError as error:
            deep = DeepReorgError(
                chain_id=error.chain_id,
                lowest=error.lowest,
                highest=error.highest,
                rewind_to=await self.rewind_point(error.lowest),
            )
            await self.store.set_halt(chain_id, str(deep))
            raise deep from None
        if verdict.lagging or verdict.ancestor is None or verdict.ancestor == tip_number:
            return False
        ancestor = verdict.ancestor
        result = await self.revert(ancestor, stored[ancestor])
        metrics.REORGS.inc()
        logger.warning(
            "reorg on chain %s: blocks %s..%s replaced; reverted to block %s, %s events removed",
            chain_id,
            ancestor + 1,
            tip_number,
            ancestor,
            result.removed,
        )
        return True

    async def revert(self, number: int, block_hash: str) -> RevertResult:
        """Revert to block `number` (hash `block_hash`) and continue after it.

        The one revert-and-publish sequence, for a reorg (check_reorg) and for an operator's
        `--rewind` (listener.service.rewind): still the active listener, then one transaction
        whose removal items are announced after the commit (Store.revert).
        """
        if self.fence is not None:
            await self.fence.check()
        result = await self.store.revert(self.config.chain_id, number, block_hash)
        self.next_block, self.tip = number + 1, (number, block_hash)
        metrics.PROCESSED_BLOCK.set(number)
        return result

    async def rewind_point(self, below: int) -> int | None:
        """The newest block below `below` whose stored events the chain still has, if any."""
        return await tips.rewind_point(self.store, self.config.chain_id, below, self.chain_hash)

    async def sync(
        self, safe: int, head: int, stop: asyncio.Event, pushed: Pushed | None = None
    ) -> None:
        """Fetch ranges up to `safe` concurrently and apply them in block order.

        `pushed` (the head that woke this pass) answers its block's header fetch; it is
        handed to this pass's ranges only, so it is never served beyond the pass (a reorg
        after it is asked of the node as always).
        """
        # Window + 1 headers: a reorg exactly `reorg_window` deep finds its ancestor among them.
        flight = InFlight(
            self.source,
            first=self.next_block,
            last=safe,
            window_start=safe - self.config.reorg_window,
            limit=self.config.max_logs_in_flight,
            concurrency=self.config.concurrency,
            pushed=None if pushed is None else pushed.header,
        )
        try:
            while flight.busy and not stop.is_set():
                await self.apply(await flight.next(stop), safe, head)
        finally:
            await flight.cancel()

    async def apply(self, prepared: Prepared, safe: int, head: int) -> None:
        """Check the range against the chain we know, then commit it as one batch."""
        fetched = prepared.fetched
        check_follows(fetched, self.tip)
        hashes = {h.number: h.hash for h in fetched.headers}
        # The fence: the commit itself requires the holder to hold the lock (listener.leader).
        holder = None if self.fence is None else self.fence.holder()
        if self.fence is not None and holder is None:
            await self.fence.check()
        seen_at = observe_fetched(prepared, self.seen)
        self.saved += fetched.saved
        # The store keeps window + 1 headers: a reorg of `reorg_window` blocks still finds
        # its common ancestor among them. It announces the feed ids after the commit.
        result = await self.store.ingest(
            prepared.batch,
            prepared.rows,
            reorg_window=self.config.reorg_window + 1,
            seen_at=seen_at,
            holder=holder,
        )
        self.next_block, self.tip = fetched.last + 1, (fetched.last, hashes[fetched.last])
        metrics.PROCESSED_BLOCK.set(fetched.last)
        metrics.LAG_BLOCKS.set(max(0, head - fetched.last))
        metrics.EVENTS.inc(result.inserted)
        logger.debug(
            "blocks %s..%s: %s events stored, %s already there",
            fetched.first,
            fetched.last,
            result.inserted,
            result.skipped_duplicates,
        )
        self.progress.update(fetched.last, safe, events=result.inserted)

    async def chain_hash(self, number: int) -> str | None:
        """The chain's hash of a block; None when the node does not have it."""
        block = await self.rpc.get_block(number)
        return None if block is None else hex_str(block["hash"])
