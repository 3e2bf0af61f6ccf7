"""One circuit breaker per provider (purgatory), shared by every process through Redis.

A provider that failed `threshold` calls in a row is not called again for `reset_seconds`:
callers get ProviderUnavailable at once instead of waiting out timeouts and retries. After
that one trial call goes through (half-open); its success closes the circuit, its failure
opens it again. With a Redis URL the state lives in Redis, so the circuit the cron service
opened is the one `/api/health/` on any web replica reports; without one it is per process.
A refusal (ProviderRejected: our request was wrong) says nothing about the provider's health
and never counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from purgatory import (
    AsyncCircuitBreakerFactory,
    AsyncInMemoryUnitOfWork,
    AsyncRedisUnitOfWork,
    ContextChanged,
    Event,
)
from purgatory.domain.model import OpenedState
from purgatory.service._async.circuitbreaker import AsyncCircuitBreaker
from purgatory.service._async.repository import AsyncRedisRepository

from dpo.errors import ProviderRejected
from dpo.providers import metrics

CircuitOpen = OpenedState
NAMESPACE = "dpo:breaker:"
_STATES = {"closed": "closed", "opened": "open", "half-opened": "half-open"}


@dataclass(frozen=True)
class CircuitState:
    """A provider's circuit as an operator sees it."""

    provider: str
    state: Literal["closed", "open", "half-open"]
    failures: int
    retry_at: float | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (for /api/health/)."""
        body: dict[str, object] = {"circuit": self.state, "failures": self.failures}
        if self.retry_at is not None:
            body["retry_in_seconds"] = max(0.0, round(self.retry_at - time.time(), 1))
        return body


class Breakers:
    """The circuit breakers of all providers."""

    def __init__(
        self,
        *,
        threshold: int,
        reset_seconds: float,
        redis_url: str | None = None,
        redis: Any = None,
        namespace: str = NAMESPACE,
    ) -> None:
        uow: AsyncRedisUnitOfWork | AsyncInMemoryUnitOfWork
        self._owned_redis: Any = None
        if redis_url or redis is not None:
            # purgatory makes its own client from a URL (lazily: no connection yet); a
            # process that has a client already (a job's runtime) lends it instead.
            uow = AsyncRedisUnitOfWork(redis_url or "redis://127.0.0.1")
            assert isinstance(uow.contexts, AsyncRedisRepository)
            uow.contexts.prefix = namespace
            if redis is not None:
                uow.contexts.redis = redis
            else:
                self._owned_redis = uow.contexts.redis
        else:
            uow = AsyncInMemoryUnitOfWork()
        self._threshold, self._reset_seconds = threshold, reset_seconds
        self._factory = AsyncCircuitBreakerFactory(
            default_threshold=threshold,
            default_ttl=reset_seconds,
            exclude=[ProviderRejected],
            uow=uow,
        )
        self._factory.add_listener(_record_state)
        self._ready = False

    async def aclose(self) -> None:
        """Close the Redis client made from `redis_url` (a lent client stays its owner's)."""
        if self._owned_redis is not None:
            await self._owned_redis.aclose()

    async def _initialize(self) -> None:
        if not self._ready:
            await self._factory.initialize()
            self._ready = True

    async def guard(self, provider: str) -> AsyncCircuitBreaker:
        """The breaker to enter around one call; entering raises CircuitOpen when open."""
        await self._initialize()
        breaker = await self._factory.get_breaker(provider)
        # A circuit registered in Redis keeps the threshold and TTL of whoever registered it
        # first; ours (this process's settings) decide for the calls we make.
        breaker.context.threshold = self._threshold
        breaker.context.ttl = self._reset_seconds
        return breaker

    async def state(self, provider: str) -> CircuitState:
        """The provider's circuit now (closed with no failures if never used)."""
        await self._initialize()
        async with self._factory.uow as uow:
            context = await uow.contexts.get(provider)
        if context is None:
            return CircuitState(provider, "closed", 0)
        name = _STATES.get(context.state, "closed")
        retry_at = (
            context.opened_at + context.ttl
            if name == "open" and context.opened_at is not None
            else None
        )
        return CircuitState(
            provider,
            name,  # type: ignore[arg-type]
            context.failure_count or 0,
            retry_at,
        )


def _record_state(name: str, event_name: str, event: Event) -> None:
    if isinstance(event, ContextChanged):
        metrics.CIRCUIT.labels(name).set(metrics.CIRCUIT_VALUES.get(event.state, 0))
