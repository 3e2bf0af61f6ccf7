"""Users as the API shows them: yourself, and every user to an admin.

A user's e-mail and role are personal data: ops staff read every business record but not the
staff directory, so only admins see users other than themselves. Anyone else asking for a
user is told it does not exist, exactly as for an unknown id.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.principal import Principal
from dpo.db.models import User
from dpo.errors import NotFoundError
from dpo.services import policy


def may_see_user(principal: Principal, user_id: int) -> bool:
    """Whether the caller may read the user: themselves, or any user if an admin."""
    return principal.user_id == user_id or policy.is_admin(principal)


async def get_user(session: AsyncSession, *, principal: Principal, user_id: int) -> User:
    """One user the caller may see; NotFoundError otherwise (absent or hidden alike)."""
    if not principal.is_authenticated or not may_see_user(principal, user_id):
        raise NotFoundError("no such user")
    user = await session.get(User, user_id)
    if user is None:
        raise NotFoundError("no such user")
    return user
