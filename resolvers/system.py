"""Resolvers of the service's own state."""

from __future__ import annotations

from importlib.metadata import version

import strawberry

from dpo.health import probe_database, probe_redis
from resolvers.feed_status import read_feed
from schema.context import Info
from schema.system import DependencyStatus, ServiceStatus


async def resolve_status(info: Info) -> ServiceStatus:
    """Version, environment, the state of the database and Redis, and the feed's."""
    runtime = info.context.runtime
    probes = [await probe_database(runtime.engine), await probe_redis(runtime.redis)]
    return ServiceStatus(
        version=version("dpo-platform"),
        environment=runtime.settings.environment,
        chain_id=runtime.settings.chain_id,
        dependencies=[
            DependencyStatus(name=p.name, ok=p.ok, latency_ms=p.latency_ms) for p in probes
        ],
        feed=await read_feed(info) if probes[0].ok else None,
    )


@strawberry.type
class SystemQuery:
    status: ServiceStatus = strawberry.field(
        resolver=resolve_status, description="The service's version and dependencies."
    )
