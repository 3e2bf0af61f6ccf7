"""Deployment checks of the install itself: uv.lock is there and is what is installed.

Kept apart from dpo.deploy_checks, which judges the environment's variables only: these look
at the files and distributions of the interpreter that runs the check, so `check --deploy`
run where the services run (or through `railway run` on a synced checkout, whose commands
such as `migrate` act on production) also tells when the code would run other versions than
the ones CI tested.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dpo.deploy_problems import Problem, Severity
from dpo.lockfile import LOCK_FILE, LockError, drift, installed_versions, locked_versions, read_lock

LOCK_PROBLEM = "dpo.E019"
DRIFT = "dpo.E020"


def check_install(
    lock_path: Path = LOCK_FILE, installed: Mapping[str, str] | None = None
) -> list[Problem]:
    """A problem for a missing or unusable lock, else one per package that differs from it."""
    try:
        locked = locked_versions(read_lock(lock_path))
    except LockError as error:
        message = str(error).removeprefix(f"{lock_path.name} ")
        return [Problem(lock_path.name, message, LOCK_PROBLEM, Severity.ERROR)]
    have = installed_versions() if installed is None else installed
    return [
        Problem(
            name,
            f"{message}: reinstall from the lock (make setup, or rebuild the image)",
            DRIFT,
            Severity.ERROR,
        )
        for name, message in drift(locked, have)
    ]
