"""Live frames written by the hub's fan-out itself, without waking the subscriber's task.

With a thousand subscribers, waking a thousand tasks for one feed item costs more than the
frames: each wake-up runs the subscription's generator, graphql-core's stream mapping and
Strawberry's result path before the frame reaches the socket. A `DirectFrames` is set on a
subscription (`FeedSubscription.direct`) by a subscription resolver whose transport can write
synchronously (a WebSocket sink with `write_now`, app.subscriptions.ws_frames). The hub's
`offer` calls it for each matching item while the subscriber's task is idle; it takes the
item's shared payload (schema.shared_events: executed once per operation shape and permission
scope, encoded once) and writes the frame, the subscriber's operation id spliced in front.

The payload is executed here, synchronously, by the first subscriber of a shape that reaches
an item, with the executor of its own subscription (bound when that subscription's task first
executed an event, so the first item of a subscription always goes through its task). Anything
that cannot be done at once declines, and the item goes through the task exactly as before:
no executor yet, a selection set that awaits (its executor is then given up), a result with
errors (never shared), a socket that would wait or is closing, an operation that is over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from functools import partial

from dpo.streaming.batch import TALLY
from dpo.streaming.items import FeedItem
from schema.shared_events import EncodedData, FrameSink, SharedEvent, SharedExecutor, shared_data

logger = logging.getLogger(__name__)

# Executions handed to the loop when a selection set turned out to await (held until done).
_PENDING: set[asyncio.Future[object]] = set()


class DirectFrames:
    """One subscription's synchronous delivery of live items (`FeedSubscription.direct`)."""

    __slots__ = ("build", "executor", "key", "scope", "sink")

    def __init__(
        self,
        *,
        sink: FrameSink,
        key: tuple[str, Hashable],
        scope: Hashable,
        build: Callable[[FeedItem], object],
    ) -> None:
        self.sink = sink
        # The item memo's key of this operation's shared payload (shared_events.operation_key).
        self.key = key
        self.scope = scope
        self.build = build
        self.executor: SharedExecutor | None = None

    def bind(self, executor: SharedExecutor) -> None:
        """The subscription's executor, from its first event executed in its task."""
        if self.executor is None and executor.share_key == self.key[0]:
            self.executor = executor

    def __call__(self, item: FeedItem) -> bool:
        """Write the item's frame now (True), or decline and leave it to the task (False)."""
        try:
            data = shared_data(item.memo, self.key)
            shared = data is not None
            if data is None:
                data = self._execute(item)
                if data is None:
                    return False
            if not self.sink.write_now(data):
                return False
            # Observed as the task's path observes a frame (resolvers.subscriptions), in bulk.
            TALLY.add(time.time(), item, shared, self.sink.counter)
        except Exception:  # the task's path reports errors; this one only must not stop the hub
            logger.exception("direct frame failed; the subscriber's task takes over")
            self.executor = None
            return False
        return True

    def _execute(self, item: FeedItem) -> EncodedData | None:
        """Execute the item's payload for every subscriber of this shape, if it runs at once."""
        executor = self.executor
        if executor is None:
            return None
        event = SharedEvent(memo=item.memo, build=partial(self.build, item), scope=self.scope)
        result = executor.build_per_event_executor(event).execute_operation(False)
        if executor.is_awaitable(result):
            # A resolver of the selection set awaits: this shape goes through the task. The
            # execution started here runs to the end and is shared like any other.
            self.executor = None
            future = asyncio.ensure_future(result)
            _PENDING.add(future)
            future.add_done_callback(_settled)
            return None
        return shared_data(item.memo, self.key)


def _settled(future: asyncio.Future[object]) -> None:
    _PENDING.discard(future)
    if not future.cancelled() and future.exception() is not None:
        logger.warning("a shared execution failed: %r", future.exception())
