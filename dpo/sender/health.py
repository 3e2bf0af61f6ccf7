"""What ops see of the sender on every web replica, read from PostgreSQL.

`/api/health/` → `sender`: intents by state and the newest reverted or failed ones with their
reason (an intent that needs a person: fix the cause, then `dpo sender retry ID`); its
`status` is `attention` while any exists. `/metrics` → `dpo_sender_intents{state}` and
`dpo_sender_oldest_open_seconds` (alert on reverted/failed > 0, and on open intents that grow
old: a sender that is down or stuck at its fee cap, or a chain whose blocks stopped while
intents wait for confirmations in `mined`). Read from the database, so both are there
while the sender is down.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

PROBE_SECONDS = 2.0
SHOWN = 10


async def sender_state(engine: AsyncEngine) -> dict[str, object] | None:
    """Intents by state, the oldest open one's age, the newest that need ops; None if
    unreadable (a database before migration 0009 included)."""
    try:
        async with asyncio.timeout(PROBE_SECONDS), engine.connect() as connection:
            counts = (
                await connection.execute(
                    text("SELECT state, count(*) FROM chain_intents GROUP BY state")
                )
            ).all()
            oldest = await connection.scalar(
                text(
                    "SELECT extract(epoch FROM now() - min(created_at)) FROM chain_intents "
                    "WHERE state IN ('pending', 'in_flight', 'mined')"
                )
            )
            problems = (
                await connection.execute(
                    text(
                        "SELECT id, kind, state, investment_id, "
                        "coalesce(revert_reason, last_error), updated_at FROM chain_intents "
                        "WHERE state IN ('reverted', 'failed') "
                        "ORDER BY updated_at DESC, id DESC LIMIT :n"
                    ),
                    {"n": SHOWN},
                )
            ).all()
    except Exception as error:
        logger.warning("sender state unreadable: %s", type(error).__name__)
        return None
    by_state = {str(state): int(n) for state, n in counts}
    needs_ops = by_state.get("reverted", 0) + by_state.get("failed", 0)
    return {
        "status": "attention" if needs_ops else "ok",
        "intents": by_state,
        "oldest_open_seconds": round(float(oldest), 1) if oldest is not None else 0.0,
        "needs_ops": [
            {
                "id": int(row[0]),
                "kind": row[1],
                "state": row[2],
                "investment_id": row[3],
                "reason": row[4],
                "updated_at": row[5].isoformat(),
            }
            for row in problems
        ],
    }
