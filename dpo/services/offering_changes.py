"""Changing offerings: creation, edits of a draft, the life cycle draft → open → closed →
settled | cancelled; each change audited in the caller's transaction (flushed, not committed).

Only admins and the offering's issuer staff change an offering; one they may not see is not
found (dpo.services.offerings.visible decides, as for reads).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import Principal
from dpo.db.models import Issuer, Offering
from dpo.db.models.enums import OfferingStatus
from dpo.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from dpo.notifications import investors as notices
from dpo.services import audit, policy
from dpo.services.offering_rules import EDITABLE, check_offering
from dpo.services.offerings import visible
from dpo.services.settlement import check_settlement

ENTITY = "offering"
TRANSITIONS: dict[str, frozenset[str]] = {
    OfferingStatus.DRAFT: frozenset({OfferingStatus.OPEN, OfferingStatus.CANCELLED}),
    OfferingStatus.OPEN: frozenset({OfferingStatus.CLOSED, OfferingStatus.CANCELLED}),
    OfferingStatus.CLOSED: frozenset({OfferingStatus.SETTLED, OfferingStatus.CANCELLED}),
    OfferingStatus.SETTLED: frozenset(),
    OfferingStatus.CANCELLED: frozenset(),
}


async def _ensure_isin_free(session: AsyncSession, isin: str, *, except_id: int | None) -> None:
    taken = await session.scalar(select(Offering.id).where(Offering.isin == isin))
    if taken is not None and taken != except_id:
        raise ConflictError("an offering with this ISIN exists", field="isin")


async def _flush_unique_isin(session: AsyncSession) -> None:
    # A concurrent request may take the ISIN between our check and the insert.
    try:
        await session.flush()
    except IntegrityError as error:
        if "uq_offerings_isin" not in str(error.orig):
            raise
        raise ConflictError("an offering with this ISIN exists", field="isin") from None


async def create_offering(
    session: AsyncSession,
    *,
    principal: Principal,
    issuer_id: int,
    fields: Mapping[str, Any],
    request_id: str | None = None,
) -> Offering:
    """A new draft offering of an issuer; admin or that issuer's staff."""
    policy.require_role(principal, policy.ADMIN, policy.ISSUER)
    if not policy.is_admin(principal) and not policy.is_issuer_staff_of(principal, issuer_id):
        raise ForbiddenError("you may only create offerings for your own issuer")
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationError(f"{sorted(unknown)[0]} cannot be set", field=sorted(unknown)[0])
    values = {name: fields.get(name) for name in EDITABLE}
    values["allowed_countries"] = list(values["allowed_countries"] or [])
    check_offering(values)
    if await session.get(Issuer, issuer_id) is None:
        raise ValidationError("no such issuer", field="issuer_id")
    if values["isin"] is not None:
        await _ensure_isin_free(session, str(values["isin"]), except_id=None)
    offering = Offering(issuer_id=issuer_id, status=OfferingStatus.DRAFT.value, **values)
    session.add(offering)
    await _flush_unique_isin(session)
    await session.refresh(offering)
    await audit.record(
        session,
        principal=principal,
        action="offering.create",
        entity_type=ENTITY,
        entity_id=offering.id,
        before=None,
        after=audit.snapshot(offering),
        request_id=request_id,
    )
    return offering


async def _managed(session: AsyncSession, principal: Principal, offering_id: int) -> Offering:
    """The offering, locked, if the caller may change it; hidden ones are not found."""
    policy.require_role(principal, policy.ADMIN, policy.ISSUER)
    offering = await session.scalar(
        select(Offering).where(Offering.id == offering_id, visible(principal)).with_for_update()
    )
    if offering is None:
        raise NotFoundError("no such offering")
    policy.require_manage_offering(principal, offering)
    return offering


async def update_offering(
    session: AsyncSession,
    *,
    principal: Principal,
    offering_id: int,
    changes: Mapping[str, Any],
    request_id: str | None = None,
) -> Offering:
    """Change a draft's fields; ConflictError once it has left draft."""
    offering = await _managed(session, principal, offering_id)
    if offering.status != OfferingStatus.DRAFT:
        raise ConflictError("only a draft offering can be edited", status=offering.status)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationError(f"{sorted(unknown)[0]} cannot be set", field=sorted(unknown)[0])
    before = audit.snapshot(offering)
    values = {name: getattr(offering, name) for name in EDITABLE}
    values.update(changes)
    if values["allowed_countries"] is None:
        values["allowed_countries"] = []
    check_offering(values)
    if changes.get("isin") is not None:
        await _ensure_isin_free(session, values["isin"], except_id=offering.id)
    for name in changes:
        setattr(offering, name, values[name])
    await _flush_unique_isin(session)
    await session.refresh(offering)
    await audit.record(
        session,
        principal=principal,
        action="offering.update",
        entity_type=ENTITY,
        entity_id=offering.id,
        before=before,
        after=audit.snapshot(offering),
        request_id=request_id,
    )
    return offering


async def _transition(
    session: AsyncSession,
    *,
    principal: Principal,
    offering_id: int,
    to: OfferingStatus,
    request_id: str | None,
) -> Offering:
    offering = await _managed(session, principal, offering_id)
    if to not in TRANSITIONS[offering.status]:
        raise ConflictError(
            f"a {offering.status} offering cannot become {to.value}", status=offering.status
        )
    if to is OfferingStatus.SETTLED:
        await check_settlement(session, offering)
    required = ("isin", "opens_at", "closes_at", "hard_cap")
    if to is OfferingStatus.OPEN and any(getattr(offering, n) is None for n in required):
        missing = next(n for n in required if getattr(offering, n) is None)
        raise ValidationError(f"{missing} must be set before opening", field=missing)
    before = audit.snapshot(offering)
    offering.status = to.value
    await session.flush()
    await session.refresh(offering)
    await audit.record(
        session,
        principal=principal,
        action=f"offering.{to.value}",
        entity_type=ENTITY,
        entity_id=offering.id,
        before=before,
        after=audit.snapshot(offering),
        request_id=request_id,
    )
    if to is OfferingStatus.CLOSED:
        await notices.offering_closed(session, offering_id=offering.id)
    return offering


async def open_offering(
    session: AsyncSession, *, principal: Principal, offering_id: int, request_id: str | None = None
) -> Offering:
    """Draft → open, once its window and hard cap are set."""
    return await _transition(
        session,
        principal=principal,
        offering_id=offering_id,
        to=OfferingStatus.OPEN,
        request_id=request_id,
    )


async def close_offering(
    session: AsyncSession, *, principal: Principal, offering_id: int, request_id: str | None = None
) -> Offering:
    """Open → closed: no more subscriptions."""
    return await _transition(
        session,
        principal=principal,
        offering_id=offering_id,
        to=OfferingStatus.CLOSED,
        request_id=request_id,
    )


async def cancel_offering(
    session: AsyncSession, *, principal: Principal, offering_id: int, request_id: str | None = None
) -> Offering:
    """Draft, open or closed → cancelled."""
    return await _transition(
        session,
        principal=principal,
        offering_id=offering_id,
        to=OfferingStatus.CANCELLED,
        request_id=request_id,
    )


async def settle_offering(
    session: AsyncSession, *, principal: Principal, offering_id: int, request_id: str | None = None
) -> Offering:
    """Closed → settled, once every order it kept is matched to on-chain issuance."""
    return await _transition(
        session,
        principal=principal,
        offering_id=offering_id,
        to=OfferingStatus.SETTLED,
        request_id=request_id,
    )
