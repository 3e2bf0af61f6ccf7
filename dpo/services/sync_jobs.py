"""The `sync_fx_rates` and `sync_csd` jobs as the runner calls them (dpo.runs.runner).

Each builds the provider clients from the run's settings, with the circuit breakers kept in
the run's Redis (so `/api/health/` shows what the cron service saw), runs the services, puts
their counts on the run, and tells the response caches when something was written. Sources
are independent: one down while another answered is a partial success (the run succeeds
and its counts name the error, `"outcome": "partial"`); a run in which every source failed
raises, so it is recorded failed.
"""

from __future__ import annotations

from typing import Any

from dpo.errors import ProviderUnavailable
from dpo.providers.factory import Providers, breakers_for
from dpo.runs.runner import JobContext
from dpo.services.csd_sync import sync_csd
from dpo.services.fx import sync_fx_rates
from dpo.services.isin_requests import request_isins
from dpo.services.prices import sync_prices


def _providers(ctx: JobContext) -> Providers:
    return Providers.from_settings(
        ctx.settings, breakers=breakers_for(ctx.settings, redis=ctx.redis)
    )


def _outcome(errors: dict[str, str], sources: int) -> str:
    return "complete" if not errors else ("failed" if len(errors) >= sources else "partial")


async def run_sync_fx_rates(ctx: JobContext) -> None:
    """The ECB's rates into fx_rates; Xetra's prices into instrument_prices."""
    providers = _providers(ctx)
    try:
        fx = await sync_fx_rates(ctx.sessions, providers.ecb)
        prices = await sync_prices(ctx.sessions, providers.xetra)
    finally:
        await providers.aclose()
    errors = {**fx.errors, **prices.errors}
    counts: dict[str, Any] = {
        **fx.counts(),
        "outcome": _outcome(errors, 2),
        "prices": {"asked": prices.asked, "received": prices.received, "written": prices.written},
    }
    if errors:
        counts["errors"] = errors
    ctx.counts.update(counts)
    if fx.written or prices.written:
        await ctx.committed()
    if counts["outcome"] == "failed":
        raise ProviderUnavailable("fx", "; ".join(f"{k}: {v}" for k, v in errors.items()))


async def run_sync_csd(ctx: JobContext) -> None:
    """Holdings and statuses from Euroclear and Clearstream; ISINs from Clearstream PMI."""
    providers = _providers(ctx)
    try:
        result = await sync_csd(ctx.sessions, providers.depositories())
        isins = await request_isins(ctx.sessions, providers.clearstream)
    finally:
        await providers.aclose()
    counts = result.counts()
    counts["isin_requests"] = {
        "asked": isins.asked,
        "allocated": isins.allocated,
        "pending": isins.pending,
        "rejected": isins.rejected,
    }
    if isins.errors:
        counts.setdefault("errors", {})["clearstream_pmi"] = isins.errors
        if counts["outcome"] == "complete":
            counts["outcome"] = "partial"
    ctx.counts.update(counts)
    if (
        any(result.holdings.values())
        or any(result.removed.values())
        or any(result.statuses.values())
        or isins.allocated
        or isins.rejected
    ):
        await ctx.committed()
    if counts["outcome"] == "failed":
        raise ProviderUnavailable(
            "csd", "; ".join(f"{name}: {text}" for name, text in result.errors.items())
        )
