"""Holdings of an instrument by a holder at one location."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from dpo.db.base import UINT256, Base
from dpo.db.models import checks
from dpo.db.models.enums import Location


class Position(Base):
    """One row per (holder, instrument, location); the instrument is the offering's token."""

    __tablename__ = "positions"
    __table_args__ = (
        UniqueConstraint("holder_address", "offering_id", "location"),
        checks.address("holder_address"),
        checks.one_of("location", Location),
        checks.uint256("quantity"),
        checks.uint256("frozen_quantity"),
        checks.non_negative("as_of_block"),
        CheckConstraint("frozen_quantity <= quantity", name="frozen_within_quantity"),
        Index("ix_positions_offering_id_location", "offering_id", "location"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    holder_address: Mapped[str] = mapped_column(String(42), index=True)
    offering_id: Mapped[int] = mapped_column(ForeignKey("offerings.id", ondelete="RESTRICT"))
    location: Mapped[str] = mapped_column(String(16))
    investor_id: Mapped[int | None] = mapped_column(
        ForeignKey("investors.id", ondelete="SET NULL"), index=True
    )
    quantity: Mapped[int] = mapped_column(UINT256, server_default=text("0"))
    frozen_quantity: Mapped[int] = mapped_column(UINT256, server_default=text("0"))
    as_of_block: Mapped[int | None] = mapped_column(BigInteger)
    as_of_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
