"""The e2e tests' children write to a file: a chatty one never blocks on an unread pipe."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support import processes
from tests.support.processes import Logged

# Twice what a pipe holds, on stdout and stderr both: with an unread PIPE the child blocks.
CHATTY = (
    "import sys\n"
    "for i in range(4096):\n"
    "    print('x' * 31, i)\n"
    "    print('e' * 31, i, file=sys.stderr)\n"
)


def test_a_child_writing_far_more_than_a_pipe_holds_runs_to_its_end(tmp_path: Path) -> None:
    process = Logged([sys.executable, "-c", CHATTY], env={}, log=tmp_path / "chatty.log")
    code, output = process.finish(60)
    assert code == 0, process.describe()
    assert len(output) > 2 * 64 * 1024
    assert output.count("\n") == 2 * 4096
    assert process.tail(2).splitlines()[-1].endswith(" 4095")


def test_a_report_names_what_was_started_since_and_what_still_runs(tmp_path: Path) -> None:
    processes.log_dir.append(tmp_path)
    try:
        before = Logged([sys.executable, "-c", "import time; time.sleep(60)"], env={})
        since = len(processes.STARTED)
        done = Logged([sys.executable, "-c", "print('last words')"], env={}, name="quick")
        done.wait(60)
        reports = dict(processes.reports(since))
        assert done.log.parent == tmp_path
        assert any("last words" in text and "exited with 0" in text for text in reports.values())
        assert any("(running," in text for text in reports.values())  # started before, running
        kept = Logged([sys.executable, "-c", "import time; time.sleep(60)"], env={})
        processes.keep(len(processes.STARTED) - 1)
        processes.kill_running(since - 1)
        assert before.poll() is not None
        assert kept.poll() is None  # kept for later tests
        kept.kill()
        kept.wait(30)
        assert all(f"pid {before.pid}," not in title for title, _ in processes.reports(since))
    finally:
        processes.log_dir.remove(tmp_path)
