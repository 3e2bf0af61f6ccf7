"""Types and conversions shared by the projection modules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from listener.decode import DecodedLog

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

# ISO 4217 minor units where they are not 2; on-chain amounts are integers in minor units.
MINOR_UNITS: dict[str, int] = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}


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

    `offerings` maps linked on-chain offering ids to (offering id, currency);
    `investment_refs` holds the investmentRefs (lowercase 0x-hex) we have an investment for.
    """

    offerings: dict[int, tuple[int, str]] = field(default_factory=dict)
    investment_refs: set[str] = field(default_factory=set)


@dataclass
class ProjectionStats:
    """How many events changed a projection, and how many matched nothing of ours."""

    applied: int = 0
    skipped: int = 0


def minor_to_decimal(amount: int | str, currency: str) -> Decimal:
    """An integer amount in the currency's minor unit as a Decimal in major units."""
    return Decimal(int(amount)).scaleb(-MINOR_UNITS.get(currency.upper(), 2))
