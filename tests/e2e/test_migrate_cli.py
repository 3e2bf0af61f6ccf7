"""`dpo migrate` / `showmigrations` and their runbook names, on a real empty database."""

from __future__ import annotations

import subprocess
import sys

from tests.e2e.conftest import ROOT, base_env, run_dpo


def test_migrate_up_down_and_show(empty_database: str, redis_url: str) -> None:
    # Railway hands out postgres:// URLs; they must work as they are.
    railway_form = empty_database.replace("postgresql://", "postgres://", 1)
    env = base_env(DATABASE_URL=railway_form, REDIS_URL=redis_url)

    before = run_dpo("showmigrations", env=env)
    assert before.returncode == 0, before.stderr
    assert " [ ] 0001" in before.stdout

    migrated = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT / "tests",
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert " [X] 0001" in run_dpo("showmigrations", env=env).stdout

    down = run_dpo("migrate", "base", env=env)
    assert down.returncode == 0, down.stderr
    assert "database at base" in down.stdout
    assert " [ ] 0001" in run_dpo("showmigrations", env=env).stdout

    unknown = run_dpo("migrate", "9999", env=env)
    assert unknown.returncode == 2
    assert "unknown revision" in unknown.stderr
