"""Types of sign-in and of the caller's own identity."""

from __future__ import annotations

import datetime as dt

import strawberry

from dpo.auth.principal import Principal
from dpo.auth.tokens import TokenPair
from dpo.db.models import User as UserRow
from schema.context import Info
from schema.enums import PrincipalKind
from schema.relay import Node, to_global_id
from schema.scalars import Address


@strawberry.type(
    description=(
        "Someone who signs in with a password (admin, issuer staff, ops) or owns an API key; "
        "you see yourself, admins see everyone."
    )
)
class User(Node):
    id: strawberry.ID
    email: str
    role: str
    issuer_id: strawberry.ID | None
    is_active: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: UserRow) -> User:
        """The API view of a user; never the password hash."""
        return cls(
            id=to_global_id("User", row.id),
            email=row.email,
            role=row.role,
            issuer_id=None if row.issuer_id is None else to_global_id("Issuer", row.issuer_id),
            is_active=row.is_active,
            created_at=row.created_at,
            last_login_at=row.last_login_at,
        )


async def load_user(info: Info, db_id: int) -> User | None:
    """A user the caller may see (dpo.services.users), else None."""
    row = await info.context.loaders.user.load((db_id, info.context.principal))
    return None if row is None else User.from_row(row)


async def _viewer_user(root: Viewer, info: Info) -> User | None:
    return None if root.user_db_id is None else await load_user(info, root.user_db_id)


@strawberry.type(description="Who the caller is, as every permission sees it.")
class Viewer:
    kind: PrincipalKind
    role: str = strawberry.field(description="anonymous, investor, issuer, ops or admin.")
    address: Address | None = strawberry.field(description="The signed-in wallet, if any.")
    investor_id: strawberry.ID | None = strawberry.field(
        description="The caller's investor; null for a wallet that has not registered yet."
    )
    issuer_id: strawberry.ID | None
    user_id: strawberry.ID | None = strawberry.field(
        description="The signed-in user's global id (`user`, or `node(id:)`); null for wallets."
    )
    user_db_id: strawberry.Private[int | None]
    user: User | None = strawberry.field(
        resolver=_viewer_user, description="The signed-in user, if any."
    )

    @classmethod
    def of(cls, principal: Principal) -> Viewer:
        """The API view of a principal."""

        def global_id(type_name: str, db_id: int | None) -> strawberry.ID | None:
            return None if db_id is None else to_global_id(type_name, db_id)

        return cls(
            kind=principal.kind,
            role=principal.role,
            address=Address(principal.address) if principal.address else None,
            investor_id=global_id("Investor", principal.investor_id),
            issuer_id=global_id("Issuer", principal.issuer_id),
            user_id=global_id("User", principal.user_id),
            user_db_id=principal.user_id,
        )


@strawberry.type(description="A single-use Sign-In with Ethereum nonce.")
class Nonce:
    value: str
    expires_at: dt.datetime


@strawberry.type(description="Tokens for the signed-in caller.")
class AuthPayload:
    access_token: str = strawberry.field(
        description="Send as `Authorization: Bearer <token>`; valid 15 minutes."
    )
    refresh_token: str = strawberry.field(
        description="Exchange once with refreshToken for a new pair; valid 30 days."
    )
    expires_at: dt.datetime = strawberry.field(description="When the access token expires.")
    refresh_expires_at: dt.datetime
    principal: Viewer

    @classmethod
    def of(cls, pair: TokenPair) -> AuthPayload:
        """The API view of a token pair."""
        return cls(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_at=pair.expires_at,
            refresh_expires_at=pair.refresh_expires_at,
            principal=Viewer.of(pair.principal),
        )


@strawberry.type(description="A single-use credential for opening one event stream.")
class StreamTicket:
    ticket: str = strawberry.field(
        description="Pass as `?ticket=` on the event stream's URL; opaque, used once."
    )
    expires_at: dt.datetime = strawberry.field(
        description="Open the stream before this (60 seconds after it was issued)."
    )
