"""`webhookDeliveries`: the stored provider deliveries, for ops staff and admins."""

from __future__ import annotations

import strawberry

from dpo.db.models.enums import WebhookStatus
from dpo.errors import DomainError
from dpo.services import webhook_deliveries as deliveries
from schema.context import Info
from schema.relay import Connection, connection_of
from schema.webhooks import WebhookDelivery


async def resolve_delivery_node(info: Info, db_id: int) -> WebhookDelivery | None:
    """`node(id)` for deliveries: ops and admins, as `webhookDeliveries`; null otherwise."""
    async with info.context.runtime.sessions() as session:
        try:
            row = await deliveries.get_delivery(
                session, principal=info.context.principal, delivery_id=db_id
            )
        except DomainError:
            return None
        return WebhookDelivery.from_view(row)


async def resolve_webhook_deliveries(
    info: Info,
    status: WebhookStatus | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[WebhookDelivery]:
    principal, sessions = info.context.principal, info.context.runtime.sessions
    async with sessions() as session:
        page = await deliveries.list_deliveries(
            session,
            principal=principal,
            status=status,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    async def total() -> int:
        async with sessions() as session:
            return await deliveries.count_deliveries(session, principal=principal, status=status)

    return connection_of(page, [WebhookDelivery.from_view(r) for r in page.rows], total)


@strawberry.type
class WebhookQuery:
    webhook_deliveries: Connection[WebhookDelivery] = strawberry.field(
        resolver=resolve_webhook_deliveries,
        description="Provider webhook deliveries, newest first, optionally of one status "
        "(ops, admin). Never the body or its signature.",
    )
