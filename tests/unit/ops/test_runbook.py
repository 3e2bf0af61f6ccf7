"""docs/RUNBOOK.md: every command in it is either Railway-only or run by a named test.

Railway-only: the Railway CLI itself (`railway …` other than `railway run`, which runs one of
our commands on this machine) and its installation. Each of our commands exists (it answers
`--help`), and the test named for it runs it for real.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
RUNBOOK = ROOT / "docs" / "RUNBOOK.md"
# Our command -> the test that runs it, and a word of the command that test must contain.
EXERCISED = {
    "python manage.py migrate": ("tests/e2e/test_migrate_cli.py", "migrate"),
    "python manage.py showmigrations": ("tests/e2e/test_migrate_cli.py", "showmigrations"),
    "python manage.py createsuperuser": ("tests/e2e/test_create_admin.py", "createsuperuser"),
    "python manage.py check --deploy": ("tests/e2e/test_cli.py", "--deploy"),
    "python manage.py collectstatic --noinput": ("tests/e2e/test_cli.py", "collectstatic"),
    "python manage.py sync_csd": ("tests/e2e/ops/test_railway_tasks.py", "sync_csd"),
    "python manage.py sync_fx_rates": ("tests/e2e/ops/test_railway_tasks.py", "sync_fx_rates"),
    "python manage.py reconcile_positions": (
        "tests/e2e/ops/test_railway_tasks.py",
        "reconcile_positions",
    ),
    "python -m app listener --rewind 12345600": ("tests/e2e/test_listener_process.py", "--rewind"),
    "./railway-setup.sh": ("tests/unit/ops/test_railway_setup.py", "railway-setup.sh"),
    "./railway-tasks.sh": ("tests/e2e/ops/test_railway_tasks.py", "railway-tasks.sh"),
}


def commands() -> list[str]:
    """Every command line of the runbook's shell blocks."""
    blocks = re.findall(r"```bash\n(.*?)```", RUNBOOK.read_text(), re.DOTALL)
    return [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def ours(command: str) -> str | None:
    """Our command inside a runbook line; None for a Railway-only line."""
    words = shlex.split(command)
    if words[:2] == ["railway", "run"]:
        rest = words[2:]
        while rest and rest[0].startswith("-"):
            rest = rest[2:] if rest[0] in ("--service", "-s", "--environment", "-e") else rest[1:]
        # `manage.py --public-urls CMD` is CMD reaching the databases from outside Railway
        # (tests/e2e/ops/test_railway_tasks.py runs it so).
        return shlex.join(word for word in rest if word != "--public-urls")
    if (
        words[0] == "railway"
        or "| railway " in command
        or words[:3] == ["npm", "install", "--global"]
    ):
        return None
    return command


def test_the_runbook_has_commands() -> None:
    assert len(commands()) > 20
    assert sum(ours(c) is None for c in commands()) > 5


@pytest.mark.parametrize("command", sorted({c for c in map(ours, commands()) if c}))
def test_each_of_our_commands_is_run_by_a_test(command: str) -> None:
    assert command in EXERCISED, f"{command!r}: add a test that runs it, and list it here"
    path, word = EXERCISED[command]
    assert word in (ROOT / path).read_text(), f"{path} does not run {command!r}"
    words = shlex.split(command)
    if words[0] == "python":
        done = subprocess.run(
            [sys.executable, *words[1:], "--help"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
