"""The audit log: every mutation records actor, action, entity, before and after.

Every row also records the request id and the client address of the request it came from
(the web layer sets both in context variables, dpo.logs), so no caller has to pass them.
A refusal worth keeping (a failed sign-in) is recorded in a transaction of its own
(`record_apart`), since the refused operation's own transaction is rolled back.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dpo.auth.principal import Principal
from dpo.db.models import AuditLog
from dpo.db.session import unit_of_work
from dpo.logs import client_address_var, request_id_var


def _json_safe(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        # uint256 values would lose digits in JSON readers that use doubles.
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return value


def snapshot(entity: Any, *, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The column values of a mapped object, JSON-safe; unloaded columns are left out."""
    state = inspect(entity)
    unloaded = state.unloaded
    return {
        attr.key: _json_safe(getattr(entity, attr.key))
        for attr in state.mapper.column_attrs
        if attr.key not in unloaded and attr.key not in exclude
    }


def origin() -> tuple[str | None, str | None]:
    """(request id, client address) of the request being served; Nones outside one."""
    request_id = request_id_var.get()
    return (None if request_id == "-" else request_id), client_address_var.get()


async def record(
    session: AsyncSession,
    *,
    principal: Principal,
    action: str,
    entity_type: str,
    entity_id: object,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    request_id: str | None = None,
) -> AuditLog:
    """Add one audit row in the caller's transaction, with the request's id and address."""
    current_id, client_address = origin()
    row = AuditLog(
        actor=principal.actor,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id)[:64],
        before=_json_safe(before),
        after=_json_safe(after),
        request_id=request_id or current_id,
        client_address=client_address,
    )
    session.add(row)
    await session.flush()
    return row


async def record_apart(
    sessions: async_sessionmaker[AsyncSession],
    *,
    principal: Principal,
    action: str,
    entity_type: str,
    entity_id: object,
    after: dict[str, Any] | None,
) -> None:
    """Add one audit row in a transaction of its own (the caller's is being rolled back)."""
    async with unit_of_work(sessions) as session:
        await record(
            session,
            principal=principal,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            before=None,
            after=after,
        )
