"""Probes of the things the services depend on, for health and readiness endpoints."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from dpo.providers.breaker import Breakers

logger = logging.getLogger(__name__)
PROBE_SECONDS = 2.0


@dataclass(frozen=True)
class Probe:
    """One dependency's state."""

    name: str
    ok: bool
    latency_ms: float
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "status": "ok" if self.ok else "down",
            "latency_ms": round(self.latency_ms, 2),
            **({"error": self.error} if self.error else {}),
        }


async def _timed(name: str, check: Callable[[], Awaitable[object]]) -> Probe:
    start = time.perf_counter()
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            await check()
    except Exception as error:
        # The class name is enough for an operator and never carries a credential.
        logger.warning("%s probe failed: %s", name, type(error).__name__)
        return Probe(name, False, (time.perf_counter() - start) * 1000, type(error).__name__)
    return Probe(name, True, (time.perf_counter() - start) * 1000)


async def probe_database(engine: AsyncEngine) -> Probe:
    """Whether PostgreSQL answers a query."""

    async def select_one() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    return await _timed("database", select_one)


async def probe_redis(client: aioredis.Redis) -> Probe:
    """Whether Redis answers PING."""

    async def ping() -> None:
        await client.ping()

    return await _timed("redis", ping)


async def probe_rpc(url: str) -> Probe:
    """Whether the JSON-RPC endpoint answers eth_chainId (the URL may hold a key: never logged)."""

    async def chain_id() -> None:
        async with httpx.AsyncClient(timeout=PROBE_SECONDS) as client:
            response = await client.post(
                url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
            )
            response.raise_for_status()
            if not isinstance(response.json().get("result"), str):
                raise ValueError("no chain id in the answer")

    return await _timed("rpc", chain_id)


async def provider_circuits(breakers: Breakers, providers: tuple[str, ...]) -> dict[str, object]:
    """Each provider's circuit breaker (closed, open, half-open), as the cron service left it.

    Read from where the breakers keep their state (Redis); when that cannot be read in
    time, every provider says "unknown" rather than failing the health answer.
    """

    async def read() -> dict[str, object]:
        return {name: (await breakers.state(name)).as_dict() for name in providers}

    try:
        async with asyncio.timeout(PROBE_SECONDS):
            return await read()
    except Exception as error:
        logger.warning("provider circuits unreadable: %s", type(error).__name__)
        return {name: {"circuit": "unknown"} for name in providers}


async def listener_state(engine: AsyncEngine) -> dict[str, object] | None:
    """Each chain's listener checkpoint and its halt after a deep reorg; None if unreadable.

    Read from PostgreSQL, so every web replica reports what the one active listener recorded.
    """
    try:
        async with asyncio.timeout(PROBE_SECONDS), engine.connect() as connection:
            rows = (
                await connection.execute(
                    text(
                        "SELECT chain_id, last_processed_block, updated_at, halted_at, "
                        "halted_reason "
                        "FROM listener_checkpoints ORDER BY chain_id"
                    )
                )
            ).all()
    except Exception as error:
        logger.warning("listener state unreadable: %s", type(error).__name__)
        return None
    chains = []
    for chain_id, block, updated_at, halted_at, reason in rows:
        chain: dict[str, object] = {
            "chain_id": int(chain_id),
            "last_block": int(block),
            "updated_at": updated_at.isoformat(),
        }
        if halted_at is not None:
            chain["halted_at"] = halted_at.isoformat()
            chain["halted_reason"] = reason
        chains.append(chain)
    halted = any("halted_at" in chain for chain in chains)
    return {"status": "halted" if halted else "ok", "chains": chains}
