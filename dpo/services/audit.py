"""The audit log: every mutation records actor, action, entity, before and after."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import Principal
from dpo.db.models import AuditLog


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
    return {attr.key: _json_safe(getattr(entity, attr.key))
            for attr in state.mapper.column_attrs
            if attr.key not in unloaded and attr.key not in exclude}


async def record(session: AsyncSession, *, principal: Principal, action: str, entity_type: str,
                 entity_id: object, before: dict[str, Any] | None,
                 after: dict[str, Any] | None, request_id: str | None = None) -> AuditLog:
    """Add one audit row in the caller's transaction."""
    row = AuditLog(actor=principal.actor, action=action, entity_type=entity_type,
                   entity_id=str(entity_id), before=_json_safe(before), after=_json_safe(after),
                   request_id=request_id)
    session.add(row)
    await session.flush()
    return row
