"""The Redis doorbell rung after a commit that added feed items.

Channel `Channels.feed` of dpo.channels (`dpo:<db>:feed`), one JSON message per committed
batch or revert:
`{"chain_id": 42170, "first": 1201, "last": 1350}` (inclusive feed ids). Redis is only a
doorbell: subscribers read the items from PostgreSQL ("id > cursor") and notice a missed
message by a gap, so a failed publish is logged and swallowed. A batch that reaches a new
head also carries `"seen": 1733443200.123` (Unix seconds, when the listener saw that head):
the web observes each frame written from it (`dpo_feed_frame_seconds`), continuing the
listener's stage histograms on one scale. It is a measurement only; nothing acts on it.

When the listener halts after a deep reorg or resumes after the re-sync, the same channel
carries `{"chain_id": 42170, "status": "halted"}` (or `"live"`): the web processes re-read the
checkpoint row for `feedStatus` (dpo.streaming.status) at once instead of at their next poll.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def feed_message(
    *, chain_id: int, first_seq: int, last_seq: int, seen_at: float | None = None
) -> str:
    """The message announcing feed ids first..last of a chain (and when its head was seen)."""
    message: dict[str, Any] = {"chain_id": chain_id, "first": first_seq, "last": last_seq}
    if seen_at is not None:
        message["seen"] = round(seen_at, 4)
    return json.dumps(message, separators=(",", ":"))


async def publish_feed(
    redis: Any,
    *,
    channel: str,
    chain_id: int,
    first_seq: int | None,
    last_seq: int | None,
    seen_at: float | None = None,
) -> None:
    """Announce committed feed ids; a no-op when there are none, never raises for Redis."""
    if first_seq is None or last_seq is None:
        return
    try:
        await redis.publish(
            channel,
            feed_message(
                chain_id=chain_id, first_seq=first_seq, last_seq=last_seq, seen_at=seen_at
            ),
        )
    except (RedisError, OSError) as error:
        logger.warning(
            "feed publish of %d..%d failed (subscribers catch up): %s",
            first_seq,
            last_seq,
            type(error).__name__,
        )


def status_message(*, chain_id: int, status: str) -> str:
    """The message announcing that a chain's listener halted or resumed."""
    return json.dumps({"chain_id": chain_id, "status": status}, separators=(",", ":"))


async def publish_status(redis: Any, *, channel: str, chain_id: int, status: str) -> None:
    """Announce a halt or a resumption; never raises for Redis (the web processes poll too)."""
    try:
        await redis.publish(channel, status_message(chain_id=chain_id, status=status))
    except (RedisError, OSError) as error:
        logger.warning("feed status publish failed (subscribers poll): %s", type(error).__name__)
