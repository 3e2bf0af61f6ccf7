"""The Schema object: root types assembled from the feature modules."""

from __future__ import annotations

import strawberry

from resolvers.system import resolve_status
from schema.system import ServiceStatus


@strawberry.type
class Query:
    status: ServiceStatus = strawberry.field(
        resolver=resolve_status, description="The service's version and dependencies."
    )


schema = strawberry.Schema(query=Query)
