"""Types and conversions shared by the projection modules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from dpo.money import MINOR_UNITS, minor_to_decimal
from listener.decode import DecodedLog

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

__all__ = [
    "MINOR_UNITS",
    "ZERO_ADDRESS",
    "Known",
    "ProjectionError",
    "ProjectionStats",
    "StoredEvent",
    "minor_to_decimal",
]


class ProjectionError(Exception):
    """A projection would break an invariant (e.g. a negative position): the batch rolls back."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A decoded log with its feed id and block time (None when no header was known)."""

    id: int
    log: DecodedLog
    block_time: datetime | None

    @property
    def time(self) -> datetime:
        """The block time, or now when the block's header was not fetched."""
        return self.block_time or datetime.now(UTC)


@dataclass
class Known:
    """Rows a batch's events could touch, read once so unmatched events cost no round trip.

    `offerings` maps linked on-chain offering ids to (offering id, currency).
    """

    offerings: dict[int, tuple[int, str]] = field(default_factory=dict)


@dataclass
class ProjectionStats:
    """How many events changed a projection, and how many matched nothing of ours."""

    applied: int = 0
    skipped: int = 0
