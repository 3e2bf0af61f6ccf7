"""Password hashing for staff users (argon2id).

A hash or a check costs tens of milliseconds of CPU and 64 MiB (argon2-cffi's defaults, on
purpose). The web service checks passwords with `check_password`, in a small pool of threads
of its own (argon2 releases the GIL): a burst of sign-ins queues there instead of freezing the
event loop, and at most HASH_THREADS checks run at once, so they cannot take every core either.
"""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
MIN_LENGTH = 12
HASH_THREADS = 2
# Threads start on first use.
_POOL = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="argon2")


def validate_password(password: str) -> None:
    """Refuse passwords too weak for a staff account."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"password must be at least {MIN_LENGTH} characters")
    if len(set(password)) < 5:
        raise ValueError("password is too repetitive")


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Checking against this keeps an unknown e-mail as slow as a wrong password.
    return hash_password(secrets.token_urlsafe(24))


def _check(password_hash: str | None, password: str) -> bool:
    if password_hash is None:
        verify_password(_dummy_hash(), password)
        return False
    return verify_password(password_hash, password)


async def check_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches, checked in the hashing pool, off the event loop.

    None (no such user, or no password set) takes as long as a wrong password and is False.
    """
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOL, _check, password_hash, password)
