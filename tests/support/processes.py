"""The processes the e2e tests start write their output to a file, never to a pipe.

A pipe that nobody reads holds 64 KiB; a child that writes more blocks on its next write and
stops doing anything at all, which a test sees only as a time-out with nothing to say. So
every child's stdout and stderr go to a log file (in the test's tmp_path by default), the test
reads that file when it wants the output, and the last lines of every process a failing test
started, or that still runs, are added to its report (tests/e2e/conftest.py).
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
TAIL_LINES = 60

# Every logged child this worker started, in order; the report of a failing test names those
# started since it began and those still running (module-scoped servers).
STARTED: list[Logged] = []
_numbers = itertools.count(1)
# Where a child's log goes when its starter names no file: the running test's tmp_path
# (tests/e2e/conftest.py sets it), else the session's folder for process logs.
log_dir: list[Path] = []


def log_file(name: str, *, shared: bool = False) -> Path:
    """A new log file named after the program, in the current test's folder (`shared`: the
    session's, for a process that outlives the test)."""
    if not log_dir:
        raise RuntimeError("no folder for process logs: tests/e2e/conftest.py sets one")
    return log_dir[0 if shared else -1] / f"{name}-{next(_numbers)}.log"


class Logged(subprocess.Popen[bytes]):
    """A child whose stdout and stderr both go to `log` (appended to)."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        log: Path | None = None,
        name: str | None = None,
        cwd: Path = TESTS,
    ) -> None:
        self.argv = [str(arg) for arg in argv]
        self.name = name or Path(argv[0]).name
        self.log = log if log is not None else log_file(self.name)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:  # the child keeps its own copy of the descriptor
            super().__init__(list(argv), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        # False for a process kept across tests (conftest's shared_web): never killed at the
        # end of the test that happened to start it.
        self.owned = True
        STARTED.append(self)

    def output(self) -> str:
        """Everything it wrote so far."""
        return self.log.read_text(errors="replace")

    def tail(self, lines: int = TAIL_LINES) -> str:
        """Its last `lines` lines, for a failure message."""
        kept = self.output().splitlines()[-lines:]
        return "\n".join(kept)

    def finish(self, timeout: float) -> tuple[int, str]:
        """Wait for it to exit; its exit code and whole output."""
        code = self.wait(timeout)
        return code, self.output()

    def describe(self) -> str:
        """Its exit status and the last lines of its output."""
        status = "running" if self.poll() is None else f"exited with {self.returncode}"
        return f"{' '.join(self.argv)} ({status}, {self.log}):\n{self.tail()}"


def python_app(*args: str, env: dict[str, str], log: Path | None = None) -> Logged:
    """`python -m app ARGS` from tests/ (a folder with no .env), its output logged."""
    return Logged([sys.executable, "-m", "app", *args], env=env, log=log, name=args[0])


def reports(since: int) -> list[tuple[str, str]]:
    """(title, tail) of the children started since STARTED[since] or still running."""
    return [
        (f"output of {p.name} (pid {p.pid}, last lines)", p.describe())
        for index, p in enumerate(STARTED)
        if index >= since or p.poll() is None
    ]


def keep(since: int) -> None:
    """The children started since STARTED[since] outlive the test that started them."""
    for process in STARTED[since:]:
        process.owned = False


def kill_running(since: int) -> None:
    """Kill the children started since STARTED[since] that a test owns and that still run."""
    for process in STARTED[since:]:
        if process.owned and process.poll() is None:
            process.kill()
            process.wait(30)
