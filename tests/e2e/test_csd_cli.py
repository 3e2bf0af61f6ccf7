"""`dpo csd map|unmap|list` on a real database: validated, idempotent, audited."""

from __future__ import annotations

import asyncpg

from dpo.db.migrate import upgrade_async
from tests.e2e.conftest import base_env, run_dpo

HOLDER = "0x" + "ab" * 20


async def test_map_list_unmap(empty_database: str, redis_url: str) -> None:
    await upgrade_async(empty_database)
    env = base_env(DATABASE_URL=empty_database, REDIS_URL=redis_url)

    mapped = run_dpo("csd", "map", "euroclear", "EC-1", "--holder", HOLDER, env=env)
    assert mapped.returncode == 0, mapped.stderr
    assert "mapped to 0xABaBaBaB" in mapped.stdout  # stored checksummed
    again = run_dpo("csd", "map", "euroclear", "EC-1", "--holder", HOLDER, env=env)
    assert "already mapped" in again.stdout
    listed = run_dpo("csd", "list", env=env)
    assert listed.stdout.split("\t")[:2] == ["euroclear", "EC-1"]

    for args, words in (
        (["euroclear", "EC-2", "--holder", "0x12"], "address"),
        (["euroclear", "EC-2"], "exactly one"),
        (["euroclear", "x" * 36, "--holder", HOLDER], "account"),
        (["euroclear", "EC-2", "--investor-id", "99"], "no such investor"),
    ):
        refused = run_dpo("csd", "map", *args, env=env)
        assert refused.returncode == 1, refused.stdout
        assert words in refused.stderr
        assert "Traceback" not in refused.stderr
    assert run_dpo("csd", "map", "nasdaq", "A", "--holder", HOLDER, env=env).returncode == 2

    assert run_dpo("csd", "unmap", "euroclear", "EC-1", env=env).returncode == 0
    gone = run_dpo("csd", "unmap", "euroclear", "EC-1", env=env)
    assert (gone.returncode, "not mapped" in gone.stderr) == (1, True)

    connection = await asyncpg.connect(empty_database)
    try:
        audit = await connection.fetch("SELECT actor, action, entity_id FROM audit_log ORDER BY id")
        left = await connection.fetchval("SELECT count(*) FROM csd_accounts")
    finally:
        await connection.close()
    assert [tuple(a) for a in audit] == [
        ("system:cli", "csd_account.map", "euroclear:EC-1"),
        ("system:cli", "csd_account.unmap", "euroclear:EC-1"),
    ]
    assert left == 0
