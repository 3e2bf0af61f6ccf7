"""The supervisor's metrics folders: one killed supervisor's folder is removed by the next."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from app.server.workers import Supervisor, remove_stale_folders
from dpo.settings import Settings


def _exited_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _folder(parent: Path, name: str) -> Path:
    path = parent / name
    path.mkdir()
    (path / "peer-0.sock").write_text("")
    return path


def test_removes_only_folders_of_exited_supervisors(tmp_path: Path) -> None:
    dead = _folder(tmp_path, f"dpo-web-{_exited_pid()}-abc123")
    alive = _folder(tmp_path, f"dpo-web-{os.getpid()}-def456")
    init = _folder(tmp_path, "dpo-web-1-ghi789")  # pid 1 is always alive
    older = _folder(tmp_path, "dpo-web-x7k2m9q1")  # no pid in the name: cannot tell
    other = _folder(tmp_path, "dpo-listener-999999-a")
    plain_file = tmp_path / f"dpo-web-{_exited_pid()}-file"
    plain_file.write_text("")
    link = tmp_path / f"dpo-web-{_exited_pid()}-link"
    link.symlink_to(alive)

    assert remove_stale_folders(tmp_path) == [dead]

    assert not dead.exists()
    for kept in (alive, init, older, other, plain_file, link):
        assert kept.exists() or kept.is_symlink()
    assert (alive / "peer-0.sock").exists()  # a symlink to a live folder is not followed


def test_empty_or_missing_parent_removes_nothing(tmp_path: Path) -> None:
    assert remove_stale_folders(tmp_path) == []
    assert remove_stale_folders(tmp_path / "missing") == []


def test_a_supervisor_removes_stale_folders_and_names_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = _folder(tmp_path, f"dpo-web-{_exited_pid()}-abc123")
    with socket.socket() as sock:
        supervisor = Supervisor(
            2,
            sock,
            Settings.model_construct(),
            database_url="postgresql://x",
            redis_url="redis://x",
        )
    assert not stale.exists()
    assert supervisor.folder.parent == tmp_path
    assert supervisor.folder.name.startswith(f"dpo-web-{os.getpid()}-")
    assert remove_stale_folders(tmp_path) == []  # its own folder is not stale while it runs
    supervisor.folder.rmdir()


def test_a_name_that_is_no_pid_keeps_its_folder_and_the_start_goes_on(tmp_path: Path) -> None:
    """Digits past a process id's range, or digits int() refuses, name no supervisor."""
    huge = _folder(tmp_path, "dpo-web-99999999999999999999-abc123")
    past_int = _folder(tmp_path, f"dpo-web-{2**31}-abc123")
    superscript = _folder(tmp_path, "dpo-web-\u00b2-abc123")
    dead = _folder(tmp_path, f"dpo-web-{_exited_pid()}-abc123")

    assert remove_stale_folders(tmp_path) == [dead]

    for kept in (huge, past_int, superscript):
        assert kept.exists()
