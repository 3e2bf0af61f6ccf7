"""Sign-in queries and mutations: thin wrappers over dpo.auth."""

from __future__ import annotations

import strawberry

from dpo.auth import siwe
from dpo.auth.signin import (
    audited_staff_sign_in,
    audited_wallet_sign_in,
    refresh_in_own_transaction,
    sign_out,
)
from dpo.db.session import unit_of_work
from dpo.errors import ValidationError
from dpo.ratelimit import RateLimiter, limit_sign_in
from dpo.settings import parse_rate
from schema.auth import AuthPayload, Nonce, Viewer
from schema.context import Info
from schema.scalars import Address

MAX_SECRET_INPUT = 1024


def _limit(value: str, field: str, limit: int = MAX_SECRET_INPUT) -> str:
    # Bounded before hashing, so a huge input costs nothing.
    if len(value) > limit:
        raise ValidationError(f"{field} is too long", field=field)
    return value


async def _sign_in_gate(info: Info, *, account: str | None = None) -> None:
    """The per-address (and per-account) limit of sign-in steps, the same on every transport.

    Over HTTP an anonymous request was already counted in its address's bucket by the
    middleware; over WebSocket (a socket signed in as some wallet, sending staffSignIn) or
    with a bearer token it was not, so it is counted here (dpo.ratelimit.limit_sign_in).
    """
    runtime = info.context.runtime
    scope = info.context.request.scope
    client = scope.get("client")
    await limit_sign_in(
        RateLimiter(runtime.redis),
        address=str(client[0]) if client else "unknown",
        account=account,
        counted=info.context.counted,
        rate=parse_rate(runtime.settings.rate_limit_anon),
    )


async def resolve_nonce(info: Info, address: Address | None = None) -> Nonce:
    await _sign_in_gate(info)  # each nonce is a row: as limited as the sign-in it starts
    async with unit_of_work(info.context.runtime.sessions) as session:
        nonce = await siwe.create_nonce(session, address=address)
    return Nonce(value=nonce.nonce, expires_at=nonce.expires_at)


def resolve_viewer(info: Info) -> Viewer:
    return Viewer.of(info.context.principal)


@strawberry.type
class AuthQuery:
    nonce: Nonce = strawberry.field(
        resolver=resolve_nonce,
        description="A nonce to put in a Sign-In with Ethereum message; valid 10 minutes.",
    )
    viewer: Viewer = strawberry.field(
        resolver=resolve_viewer, description="Who you are signed in as."
    )


async def resolve_sign_in(info: Info, message: str, signature: str) -> AuthPayload:
    await _sign_in_gate(info)
    runtime = info.context.runtime
    domain = siwe.expected_domain(
        runtime.settings, request_host=info.context.request.headers.get("host")
    )
    pair = await audited_wallet_sign_in(
        runtime.sessions,
        message=message,
        signature=_limit(signature, "signature"),
        domain=domain,
        settings=runtime.settings,
    )
    return AuthPayload.of(pair)


async def resolve_staff_sign_in(info: Info, email: str, password: str) -> AuthPayload:
    await _sign_in_gate(info, account=_limit(email, "email", 320))
    runtime = info.context.runtime
    pair = await audited_staff_sign_in(
        runtime.sessions,
        email=_limit(email, "email", 320),
        password=_limit(password, "password"),
        settings=runtime.settings,
    )
    return AuthPayload.of(pair)


async def resolve_refresh_token(info: Info, refresh_token: str) -> AuthPayload:
    runtime = info.context.runtime
    pair = await refresh_in_own_transaction(
        runtime.sessions,
        refresh_token=_limit(refresh_token, "refreshToken"),
        settings=runtime.settings,
    )
    return AuthPayload.of(pair)


async def resolve_sign_out(info: Info, refresh_token: str) -> bool:
    async with unit_of_work(info.context.runtime.sessions) as session:
        return await sign_out(
            session,
            refresh_token=_limit(refresh_token, "refreshToken"),
            principal=info.context.principal,
        )


@strawberry.type
class AuthMutation:
    sign_in: AuthPayload = strawberry.mutation(
        resolver=resolve_sign_in,
        description="Sign in with an EIP-4361 message and its wallet signature.",
    )
    staff_sign_in: AuthPayload = strawberry.mutation(
        resolver=resolve_staff_sign_in,
        description="Sign in as staff (admin, issuer, ops) with e-mail and password.",
    )
    refresh_token: AuthPayload = strawberry.mutation(
        resolver=resolve_refresh_token,
        description="Exchange a refresh token for a new pair; each token works once.",
    )
    sign_out: bool = strawberry.mutation(
        resolver=resolve_sign_out,
        description="Revoke a refresh token and every token refreshed from the same sign-in.",
    )
