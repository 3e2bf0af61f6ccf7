"""Types of sign-in and of the caller's own identity."""

from __future__ import annotations

import datetime as dt
from enum import Enum

import strawberry

from schema.scalars import Address


@strawberry.enum(description="How the caller authenticated.")
class PrincipalKind(Enum):
    ANONYMOUS = "anonymous"
    WALLET = "wallet"
    STAFF = "staff"
    SERVICE = "service"


@strawberry.type(name="Viewer", description="Who the caller is, as every permission sees it.")
class ViewerType:
    kind: PrincipalKind
    role: str = strawberry.field(description="anonymous, investor, issuer, ops or admin.")
    address: Address | None = strawberry.field(description="The signed-in wallet, if any.")
    investor_id: strawberry.ID | None = strawberry.field(
        description="The caller's investor; null for a wallet that has not registered yet.")
    issuer_id: strawberry.ID | None
    user_id: strawberry.ID | None


@strawberry.type(name="Nonce", description="A single-use Sign-In with Ethereum nonce.")
class NonceType:
    value: str
    expires_at: dt.datetime


@strawberry.type(description="Tokens for the signed-in caller.")
class AuthPayload:
    access_token: str = strawberry.field(
        description="Send as `Authorization: Bearer <token>`; valid 15 minutes.")
    refresh_token: str = strawberry.field(
        description="Exchange once with refreshToken for a new pair; valid 30 days.")
    expires_at: dt.datetime = strawberry.field(description="When the access token expires.")
    refresh_expires_at: dt.datetime
    principal: ViewerType
