"""The web application keeps CPython's recursion limit, whatever its dependencies import."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import importlib, pkgutil, sys
import py_ecc  # raises the limit to 100,000 on import
assert sys.getrecursionlimit() >= 100_000
from app.web import create_app
from dpo.recursion import RECURSION_LIMIT
from dpo.settings import Settings
create_app(Settings.model_validate({}), database_url="postgresql://x/y", redis_url="redis://x")
assert sys.getrecursionlimit() == RECURSION_LIMIT, sys.getrecursionlimit()
# Nothing imported later may raise it again: import every module of the project.
for package in ("dpo", "app", "schema", "resolvers", "listener", "jobs"):
    root = importlib.import_module(package)
    for module in pkgutil.walk_packages(root.__path__, package + "."):
        if not module.name.startswith(("app.__main__", "dpo.embedded")):
            importlib.import_module(module.name)
assert sys.getrecursionlimit() == RECURSION_LIMIT, sys.getrecursionlimit()
print("ok")
"""


def test_create_app_restores_the_limit_and_no_import_raises_it_again() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
