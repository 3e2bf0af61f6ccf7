"""The `sync_fx_rates` and `sync_csd` jobs as the runner calls them (dpo.runs.runner).

Each builds the provider clients from the run's settings, with the circuit breakers kept in
the run's Redis (so `/api/health/` shows what the cron service saw), runs the service, puts
its counts on the run, and tells the response caches when something was written. A run in
which every provider failed raises, so the run is recorded failed; a depository down while
the other answered is a partial success: the run succeeds and its counts name the error.
"""

from __future__ import annotations

from dpo.errors import ProviderUnavailable
from dpo.providers.factory import Providers, breakers_for
from dpo.runs.runner import JobContext
from dpo.services.csd_sync import sync_csd
from dpo.services.fx import sync_fx_rates


def _providers(ctx: JobContext) -> Providers:
    return Providers.from_settings(ctx.settings,
                                   breakers=breakers_for(ctx.settings, redis=ctx.redis))


async def run_sync_fx_rates(ctx: JobContext) -> None:
    """The ECB's rates into fx_rates."""
    providers = _providers(ctx)
    try:
        result = await sync_fx_rates(ctx.sessions, providers.ecb)
    finally:
        await providers.aclose()
    ctx.counts.update(result.counts())
    if result.written:
        await ctx.committed()
    if result.errors:
        raise ProviderUnavailable("ecb", "; ".join(result.errors.values()))


async def run_sync_csd(ctx: JobContext) -> None:
    """Holdings and statuses from Euroclear and Clearstream."""
    providers = _providers(ctx)
    try:
        result = await sync_csd(ctx.sessions, providers.depositories())
    finally:
        await providers.aclose()
    ctx.counts.update(result.counts())
    if any(result.holdings.values()) or any(result.removed.values()) or any(
            result.statuses.values()):
        await ctx.committed()
    if result.errors and not result.statements:
        raise ProviderUnavailable("csd", "; ".join(f"{name}: {text}"
                                                  for name, text in result.errors.items()))
