"""Staff users: operators, issuers' staff and admins who sign in with a password."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.passwords import hash_password, validate_password
from dpo.db.models import AuditLog, User
from dpo.db.models.enums import Role
from dpo.db.session import create_engine, session_factory, unit_of_work

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UserExistsError(Exception):
    """A user with that e-mail exists already."""


async def create_staff_user(
    session: AsyncSession, *, email: str, password: str, role: Role, actor: str
) -> User:
    """Add a staff user with a hashed password, and audit it; the caller commits."""
    email = email.strip()
    if not EMAIL.match(email):
        raise ValueError(f"not an e-mail address: {email!r}")
    validate_password(password)
    taken = await session.scalar(select(User.id).where(func.lower(User.email) == email.lower()))
    if taken is not None:
        raise UserExistsError(f"a user with e-mail {email} exists already")
    user = User(email=email, password_hash=hash_password(password), role=role.value)
    session.add(user)
    await session.flush()
    session.add(
        AuditLog(
            actor=actor,
            action="user.create",
            entity_type="user",
            entity_id=str(user.id),
            before=None,
            after={"email": email, "role": role.value},
        )
    )
    return user


async def create_admin_user(database_url: str, *, email: str, password: str) -> int:
    """Create an admin in its own transaction (the CLI's createsuperuser); return its id."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            user = await create_staff_user(
                session, email=email, password=password, role=Role.ADMIN, actor="system:cli"
            )
            return user.id
    finally:
        await engine.dispose()
