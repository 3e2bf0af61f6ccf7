"""Permission helpers over the caller's Principal; every refusal is a dpo.errors error."""

from __future__ import annotations

from typing import Protocol

from dpo.auth.principal import Principal
from dpo.errors import ForbiddenError, UnauthenticatedError

ANONYMOUS = "anonymous"
INVESTOR = "investor"
ISSUER = "issuer"
ADMIN = "admin"
OPS = "ops"
ROLES = frozenset({ANONYMOUS, INVESTOR, ISSUER, ADMIN, OPS})
# Staff who may read everything; only admin may change everything.
STAFF_READERS = frozenset({ADMIN, OPS})


class OwnedByIssuer(Protocol):
    """Anything that belongs to an issuer (an offering, an issuer-scoped record)."""

    @property
    def issuer_id(self) -> int: ...


def require_authenticated(principal: Principal) -> Principal:
    """The principal, or UnauthenticatedError for an anonymous caller."""
    if not principal.is_authenticated:
        raise UnauthenticatedError("sign in first")
    return principal


def has_role(principal: Principal, *roles: str) -> bool:
    """Whether an authenticated principal holds one of `roles`."""
    return principal.is_authenticated and principal.role in roles


def require_role(principal: Principal, *roles: str) -> Principal:
    """The principal if it holds one of `roles`; Unauthenticated/Forbidden otherwise."""
    require_authenticated(principal)
    if principal.role not in roles:
        raise ForbiddenError("your role may not do this", required=sorted(roles))
    return principal


def is_admin(principal: Principal) -> bool:
    """Whether the caller is an authenticated admin."""
    return has_role(principal, ADMIN)


def can_read_everything(principal: Principal) -> bool:
    """Admin and ops see every record."""
    return has_role(principal, *STAFF_READERS)


def is_issuer_staff_of(principal: Principal, issuer_id: int) -> bool:
    """Whether the caller works for this issuer."""
    return has_role(principal, ISSUER) and principal.issuer_id == issuer_id


def can_manage_offering(principal: Principal, offering: OwnedByIssuer) -> bool:
    """Admin, or staff of the issuer that owns the offering."""
    return is_admin(principal) or is_issuer_staff_of(principal, offering.issuer_id)


def require_manage_offering(principal: Principal, offering: OwnedByIssuer) -> None:
    """Raise unless the caller may change this offering."""
    require_role(principal, ADMIN, ISSUER)
    if not can_manage_offering(principal, offering):
        raise ForbiddenError("only the issuer's staff or an admin may change this offering")


def require_investor_self(principal: Principal, investor_id: int) -> None:
    """Raise unless the caller is this investor, or admin/ops."""
    require_authenticated(principal)
    if can_read_everything(principal):
        return
    if principal.role != INVESTOR or principal.investor_id != investor_id:
        raise ForbiddenError("you may only see your own investor records")
