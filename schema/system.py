"""Types that describe the running service itself."""

from __future__ import annotations

import strawberry


@strawberry.type(description="A dependency of the service and whether it answers.")
class DependencyStatus:
    name: str
    ok: bool
    latency_ms: float


@strawberry.type(description="The service's own state.")
class ServiceStatus:
    version: str
    environment: str
    chain_id: int
    dependencies: list[DependencyStatus]
