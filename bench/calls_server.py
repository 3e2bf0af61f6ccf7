"""`dpo web` under cProfile between two signals, for bench/query_calls.py.

Run as `python bench/calls_server.py OUT PORT` with PYTHONPATH set to the code under test
(ours, or an earlier commit's checkout): SIGUSR1 starts a fresh profile of the process's
main thread (the event loop: every request's Python work), SIGUSR2 stops it and writes the
statistics to OUT. Everything else is `dpo web --port PORT`.
"""

from __future__ import annotations

import cProfile
import signal
import sys
from typing import Any


def main() -> None:
    out, port = sys.argv[1], sys.argv[2]
    running: list[cProfile.Profile] = []

    def start(*_: Any) -> None:
        running[:] = [cProfile.Profile()]
        running[0].enable()

    def stop(*_: Any) -> None:
        running[0].disable()
        running[0].dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    sys.argv = ["dpo", "web", "--port", port]
    from app.cli import main as dpo

    dpo()


if __name__ == "__main__":
    main()
