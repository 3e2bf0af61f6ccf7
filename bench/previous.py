"""An earlier commit's code, checked out beside ours, for a side-by-side run (`--compare`).

A detached git worktree: the previous approach runs from it as a second process on the same
database and machine, so both are measured in the same run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def checkout(ref: str, tree: Path) -> Path:
    """The code of `ref` in a detached worktree at `tree`."""
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--force", "--detach", str(tree), ref],
        check=True,
        capture_output=True,
    )
    return tree


def drop_checkout(tree: Path) -> None:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
        check=False,
        capture_output=True,
    )
