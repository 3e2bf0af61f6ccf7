"""Types that describe the running service itself."""

from __future__ import annotations

import datetime as dt

import strawberry

from dpo.streaming import status as feed
from schema.enums import FeedState
from schema.scalars import BigInt


@strawberry.type(description="A dependency of the service and whether it answers.")
class DependencyStatus:
    name: str
    ok: bool
    latency_ms: float


@strawberry.type(description="The service's own state.")
class ServiceStatus:
    version: str
    environment: str
    chain_id: int
    dependencies: list[DependencyStatus]
    feed: FeedStatus | None = strawberry.field(
        description="The chain event feed of this chain (the listener's state, not a "
        "dependency of this service: a halted feed leaves the API answering); "
        "null when the database cannot be read."
    )


@strawberry.type(
    description="The chain event feed's state: live, or halted by a reorg deeper "
    "than the listener keeps until an operator re-syncs it "
    "(docs/SUBSCRIPTIONS.md)."
)
class FeedStatus:
    chain_id: int
    state: FeedState
    last_block: BigInt | None = strawberry.field(
        description="The newest block the feed holds; while HALTED, the block it stopped at."
    )
    updated_at: dt.datetime | None = strawberry.field(
        description="When the listener last committed (or re-checked) its checkpoint."
    )
    halted_at: dt.datetime | None
    reason: str | None = strawberry.field(
        description="While HALTED: the listener's own account, with the operator's way out."
    )
    message: str = strawberry.field(description="What the state means for a consumer.")

    @classmethod
    def from_status(cls, status: feed.FeedStatus) -> FeedStatus:
        """The GraphQL object of a feed state."""
        return cls(
            chain_id=status.chain_id,
            state=status.state,
            last_block=None if status.last_block is None else BigInt(status.last_block),
            updated_at=status.updated_at,
            halted_at=status.halted_at,
            reason=status.reason,
            message=status.message,
        )
