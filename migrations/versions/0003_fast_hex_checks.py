"""Hex format checks as a length test plus an uncounted pattern: COPY of chain events ~5x faster.

The rule is unchanged (0x and exactly 40 or 64 hex digits); PostgreSQL's regex engine is slow
on the counted repeat `{64}`, which dominated the listener's COPY into chain_events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, bytes) of every hex format check.
CHECKS: list[tuple[str, str, int]] = [
    ("auth_nonces", "address", 20),
    ("refresh_tokens", "address", 20),
    ("chain_events", "contract_address", 20),
    ("chain_events", "block_hash", 32),
    ("chain_events", "tx_hash", 32),
    ("listener_blocks", "hash", 32),
    ("listener_blocks", "parent_hash", 32),
    ("listener_checkpoints", "last_processed_hash", 32),
    ("bridge_transfers", "holder_address", 20),
    ("bridge_transfers", "tx_hash", 32),
    ("offerings", "token_address", 20),
    ("investments", "onchain_reference", 32),
    ("investments", "tx_hash", 32),
    ("investor_wallets", "address", 20),
    ("positions", "holder_address", 20),
]


def _replace(fast: bool) -> None:
    for table, column, size in CHECKS:
        name = f"ck_{table}_{column}_format"
        if fast:
            rule = f"length({column}) = {2 + 2 * size} AND {column} ~ '^0x[0-9a-fA-F]+$'"
        else:
            rule = f"{column} ~ '^0x[0-9a-fA-F]{{{2 * size}}}$'"
        op.drop_constraint(op.f(name), table, type_="check")
        op.create_check_constraint(op.f(name), table, rule)


def upgrade() -> None:
    """Replace the counted-repeat regex checks with the equivalent fast form."""
    _replace(fast=True)


def downgrade() -> None:
    """Restore the regex checks of 0001/0002."""
    _replace(fast=False)
