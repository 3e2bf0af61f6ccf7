"""Users, API keys and the nonces of Sign-In with Ethereum."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from dpo.db.base import Base, Timestamped
from dpo.db.models import checks
from dpo.db.models.enums import Role


class User(Timestamped, Base):
    """Someone who signs in: an operator, an issuer's staff, or an investor."""

    __tablename__ = "users"
    __table_args__ = (checks.one_of("role", Role),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    # None for users who only sign in with their wallet.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), server_default=Role.INVESTOR.value)
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    issuer_id: Mapped[int | None] = mapped_column(
        ForeignKey("issuers.id", ondelete="SET NULL"), index=True
    )
    last_login_at: Mapped[datetime | None]


# Emails compare case-insensitively, as citext would.
Index("uq_users_email_lower", func.lower(User.email), unique=True)


class ApiKey(Base):
    """A machine credential: the prefix finds the row, the hash verifies the secret."""

    __tablename__ = "api_keys"
    __table_args__ = (checks.one_of("role", Role),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuthNonce(Base):
    """A single-use SIWE nonce; the address is known once the message is signed."""

    __tablename__ = "auth_nonces"
    __table_args__ = (checks.address("address"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    address: Mapped[str | None] = mapped_column(String(42))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[datetime | None]


class RefreshToken(Base):
    """A refresh token's hash; each use rotates it within its family."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (checks.address("address"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Every token rotated from one sign-in shares the family; a reuse revokes all of them.
    family: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    address: Mapped[str | None] = mapped_column(String(42))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
