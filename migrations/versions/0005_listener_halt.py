"""The listener's halt after a reorg deeper than its window, for /api/health/ and operators.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Two nullable columns: set while halted, cleared by the rewind."""
    op.add_column(
        "listener_checkpoints", sa.Column("halted_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("listener_checkpoints", sa.Column("halted_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop them."""
    op.drop_column("listener_checkpoints", "halted_reason")
    op.drop_column("listener_checkpoints", "halted_at")
