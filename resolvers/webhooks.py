"""`webhookDeliveries`: the stored provider deliveries, for ops staff and admins."""

from __future__ import annotations

import strawberry

from dpo.db.models.enums import WebhookStatus
from dpo.errors import DomainError
from dpo.services import webhook_deliveries as deliveries
from schema.context import Info
from schema.relay import Connection, connection_of, register_node, to_global_id
from schema.webhooks import WebhookDelivery, WebhookDeliveryStatus


def delivery_node(row: deliveries.DeliveryView) -> WebhookDelivery:
    """The API view of a delivery."""
    return WebhookDelivery(
        id=to_global_id("WebhookDelivery", row.id), provider=row.provider,
        event_id=row.event_id, event_type=row.event_type,
        status=WebhookDeliveryStatus(row.status), reason=row.reason,
        received_at=row.received_at, processed_at=row.processed_at,
        payment_reference=row.payment_reference,
        investment_id=(None if row.investment_id is None
                       else to_global_id("Investment", row.investment_id)))


async def resolve_delivery_node(info: Info, db_id: int) -> WebhookDelivery | None:
    """`node(id)` for deliveries: ops and admins, as `webhookDeliveries`; null otherwise."""
    async with info.context.runtime.sessions() as session:
        try:
            row = await deliveries.get_delivery(session, principal=info.context.principal,
                                                delivery_id=db_id)
        except DomainError:
            return None
        return delivery_node(row)


register_node("WebhookDelivery", resolve_delivery_node)


async def resolve_webhook_deliveries(info: Info, status: WebhookDeliveryStatus | None = None,
                                     first: int | None = None, after: str | None = None,
                                     last: int | None = None, before: str | None = None
                                     ) -> Connection[WebhookDelivery]:
    principal, sessions = info.context.principal, info.context.runtime.sessions
    core = WebhookStatus(status.value) if status else None
    async with sessions() as session:
        page = await deliveries.list_deliveries(session, principal=principal, status=core,
                                                first=first, after=after, last=last,
                                                before=before)

    async def total() -> int:
        async with sessions() as session:
            return await deliveries.count_deliveries(session, principal=principal, status=core)

    return connection_of(page, [delivery_node(r) for r in page.rows], total)


@strawberry.type
class WebhookQuery:
    webhook_deliveries: Connection[WebhookDelivery] = strawberry.field(
        resolver=resolve_webhook_deliveries,
        description="Provider webhook deliveries, newest first, optionally of one status "
                    "(ops, admin). Never the body or its signature.")
