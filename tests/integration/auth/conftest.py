"""Settings with a signing key, and a staff user, for the auth tests."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from dpo.auth.staff import create_staff_user
from dpo.db.models import User
from dpo.db.models.enums import Role
from dpo.settings import Settings

PASSWORD = "correct horse battery"


@pytest.fixture
def settings() -> Settings:
    """Settings as the tests' web server would read them, with a 40-character key."""
    return Settings(
        _env_file=None,
        DJANGO_SECRET_KEY="t" * 24 + "0123456789abcdef",
        API_HMAC_SECRET="h" * 40,
        BLOCKCHAIN_NETWORK="anvil",
    )


@pytest.fixture
async def staff(db: AsyncSession) -> User:
    """An active admin with a known password."""
    return await create_staff_user(
        db, email="Ops.Lead@example.com", password=PASSWORD, role=Role.ADMIN, actor="test"
    )
