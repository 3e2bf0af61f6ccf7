"""`dpo create-admin` and `manage.py createsuperuser` on a real database."""

from __future__ import annotations

import asyncpg

from dpo.auth.passwords import verify_password
from dpo.db.migrate import upgrade_async
from tests.e2e.conftest import base_env, run_dpo

PASSWORD = "correct horse battery staple"


async def test_create_admin_hashes_audits_and_refuses_duplicates(
    empty_database: str, redis_url: str
) -> None:
    await upgrade_async(empty_database)
    env = base_env(DATABASE_URL=empty_database, REDIS_URL=redis_url)

    created = run_dpo(
        "create-admin",
        "--email",
        "Ops@Example.com",
        "--password-stdin",
        env=env,
        stdin=PASSWORD + "\n",
    )
    assert created.returncode == 0, created.stderr
    again = run_dpo(
        "create-admin",
        "--email",
        "ops@example.COM",
        "--password-stdin",
        env=env,
        stdin=PASSWORD + "\n",
    )
    assert again.returncode == 1
    assert "exists already" in again.stderr
    weak = run_dpo(
        "create-admin", "--email", "other@example.com", "--password-stdin", env=env, stdin="short\n"
    )
    assert weak.returncode == 2
    bad_email = run_dpo(
        "create-admin",
        "--email",
        "not-an-email",
        "--password-stdin",
        env=env,
        stdin=PASSWORD + "\n",
    )
    assert bad_email.returncode == 2

    connection = await asyncpg.connect(empty_database)
    try:
        users = await connection.fetch("SELECT email, role, password_hash FROM users")
        audit = await connection.fetch("SELECT actor, action, after FROM audit_log")
    finally:
        await connection.close()
    assert [(u["email"], u["role"]) for u in users] == [("Ops@Example.com", "admin")]
    assert users[0]["password_hash"] != PASSWORD
    assert verify_password(users[0]["password_hash"], PASSWORD)
    assert not verify_password(users[0]["password_hash"], PASSWORD + "x")
    assert [(a["actor"], a["action"]) for a in audit] == [("system:cli", "user.create")]
