"""`dpo web` as several worker processes sharing one listening socket, and their supervisor.

One uvicorn process runs one event loop on one core. With WEB_CONCURRENCY > 1 (by default, one
per core the process may use, app.server.cores) the command binds the socket, then starts that
many workers (multiprocessing's spawn: a fresh interpreter each, so nothing of the supervisor's
state is shared by accident); each builds its own application (pools, response cache, feed hub)
and accepts from the inherited socket, so the kernel hands every connection to one of them. The
supervisor serves nothing; it

- forwards SIGTERM / SIGINT to every worker, which drains as a single process does (WebSockets
  closed with 1001, event streams ended, requests in flight given WEB_DRAIN_SECONDS), waits for
  all of them and exits 0 when every one did (a worker the signal found still starting, which
  had served nothing, counts as drained);
- replaces a worker killed by a signal (the kernel's OOM killer, an operator's kill -9) so the
  others keep serving and capacity comes back; more than MAX_REPLACEMENTS in REPLACEMENT_WINDOW
  seconds, or a worker that exits by itself (it failed to start, or crashed), stops them all and
  exits 1, so the platform restarts the service rather than running a crash loop at reduced
  capacity;
- dies with its workers: each gets SIGTERM if the supervisor itself is killed (PR_SET_PDEATHSIG).

Metrics: each worker serves its own registry to the others over a Unix socket in a private
folder; whichever worker answers /metrics adds theirs, labelled `worker` (app.http.peers). The
folder is named after the supervisor's pid, and removed when it stops; a supervisor that was
killed (kill -9, the OOM killer) cannot remove its own, so each supervisor removes, as it
starts, those whose supervisor is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import deque
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from dpo.settings import Settings

logger = logging.getLogger(__name__)

GC_GEN0_THRESHOLD = 7000  # Python's default is 700
MAX_REPLACEMENTS = 5
REPLACEMENT_WINDOW = 60.0  # seconds
# After WEB_DRAIN_SECONDS a worker still has its lifespan's shutdown to run (pools, Redis).
STOP_GRACE_SECONDS = 15.0
_PR_SET_PDEATHSIG = 1
FOLDER_PREFIX = "dpo-web-"


def remove_stale_folders(parent: Path) -> list[Path]:
    """Remove this user's `dpo-web-<pid>-*` folders in `parent` whose supervisor has exited.

    A pid that is alive (or belongs to another user) keeps its folder: a reused pid only
    delays the removal, and another user's folder is not ours to judge.
    """
    removed = []
    for path in parent.glob(f"{FOLDER_PREFIX}*-*"):
        pid_text = path.name[len(FOLDER_PREFIX) :].split("-", 1)[0]
        # ASCII digits only: int() refuses some that isdigit() accepts (a superscript).
        if not (pid_text.isascii() and pid_text.isdigit()) or not _stale(path, int(pid_text)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _stale(path: Path, pid: int) -> bool:
    try:
        if not path.is_dir() or path.is_symlink() or path.stat().st_uid != os.getuid():
            return False
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # gone meanwhile, or a process of another user: not ours to remove
        return False
    except OverflowError:  # past a pid's range: names no process, so no supervisor of ours
        return False
    return False


def run_application(
    config: Settings,
    sock: socket.socket,
    *,
    database_url: str,
    redis_url: str,
    peers: tuple[Path, int] | None = None,
) -> int:
    """Build the application and serve it on `sock` until told to stop; the exit code."""
    from app.server.serve import serve
    from app.web import create_app

    application = create_app(config, database_url=database_url, redis_url=redis_url)
    if peers is not None:
        from app.http.peers import MetricsPeers

        application.state.metrics_peers = MetricsPeers(*peers)
    # Leave the start-up heap (modules, the schema) out of the cyclic GC: thousands of
    # sockets connecting at once trigger full collections, and each walked all of it too
    # (pauses of 0.5-1.7 s in bench/fanout).
    gc.collect()
    gc.freeze()
    # Young collections 10x less often: with 1,000 sockets, 1 full collection instead of 8
    # per bench/fanout run, the longest 0.08 s instead of 0.15 s (docs/BENCHMARKS.md).
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])
    return serve(application, sock, config, on_shutdown=application.state.drain.begin)


def _worker(
    sock: socket.socket,
    config: Settings,
    database_url: str,
    redis_url: str,
    peers: tuple[Path, int],
    supervisor: int,
) -> None:
    """One worker process (the spawn target): serve, then exit with serve's code."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)  # the supervisor died: drain and stop
    if os.getppid() != supervisor:  # it died before the line above: nobody would stop us
        sys.exit(0)
    from dpo.logs import configure_logging

    configure_logging(
        config.log_level, json=config.log_json, service="web", secrets=config.secret_values()
    )
    code = run_application(
        config, sock, database_url=database_url, redis_url=redis_url, peers=peers
    )
    sys.exit(code)


class Supervisor:
    """Start `count` workers on `sock` and keep them, as the module docstring says."""

    def __init__(
        self,
        count: int,
        sock: socket.socket,
        config: Settings,
        *,
        database_url: str,
        redis_url: str,
    ) -> None:
        self.count = count
        self.sock = sock
        self.config = config
        self.urls = (database_url, redis_url)
        for path in remove_stale_folders(Path(tempfile.gettempdir())):
            logger.info("dpo web: removed %s, left by a supervisor that was killed", path)
        self.folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-"))
        self.workers: dict[int, BaseProcess] = {}
        self.replaced: deque[float] = deque()
        self.stopping = False
        self.code = 0
        self._spawn = multiprocessing.get_context("spawn")

    def run(self) -> int:
        """Serve until told to stop; 0 when every worker drained and exited 0, else 1."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            for index in range(self.count):
                if self.stopping:  # told to stop while starting: start no more
                    break
                self._start(index)
            logger.info("dpo web: %d workers", self.count)
            while not self.stopping:
                wait([w.sentinel for w in self.workers.values()], timeout=1.0)
                self._check()
            self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            shutil.rmtree(self.folder, ignore_errors=True)
        return self.code

    def _start(self, index: int) -> None:
        process = self._spawn.Process(
            target=_worker,
            args=(self.sock, self.config, *self.urls, (self.folder, index), os.getpid()),
            name=f"dpo-web-{index}",
        )
        process.start()
        self.workers[index] = process

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if not self.stopping:
            logger.info("dpo web: %s, draining %d workers", signal.Signals(sig).name, self.count)
        self.stopping = True
        self._signal_all(signal.SIGTERM)

    def _signal_all(self, sig: int) -> None:
        for process in self.workers.values():
            if process.pid is not None and process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, sig)

    def _check(self) -> None:
        for index, process in list(self.workers.items()):
            code = process.exitcode
            if code is None or self.stopping:
                continue
            now = time.monotonic()
            while self.replaced and now - self.replaced[0] > REPLACEMENT_WINDOW:
                self.replaced.popleft()
            if code < 0 and len(self.replaced) < MAX_REPLACEMENTS:
                logger.error(
                    "dpo web: worker %d (pid %s) was killed by %s; starting a new one",
                    index,
                    process.pid,
                    signal.Signals(-code).name,
                )
                self.replaced.append(now)
                self._start(index)
                continue
            logger.error(
                "dpo web: worker %d (pid %s) exited with %s; stopping the service",
                index,
                process.pid,
                code if code >= 0 else signal.Signals(-code).name,
            )
            self.code = 1
            self.stopping = True
            self._signal_all(signal.SIGTERM)
            return

    def _stop_all(self) -> None:
        deadline = time.monotonic() + self.config.web_drain_seconds + STOP_GRACE_SECONDS
        for process in self.workers.values():
            process.join(max(0.0, deadline - time.monotonic()))
        for index, process in self.workers.items():
            if process.exitcode is None:
                logger.error("dpo web: worker %d did not stop in time; killing it", index)
                process.kill()
                process.join()
            if process.exitcode == -signal.SIGTERM:
                # Our SIGTERM found it still starting, before uvicorn takes the signal over
                # (importing, building the application): it had served nothing, so nothing
                # was cut short, and it did what it was told.
                logger.info("dpo web: worker %d stopped before it served", index)
            elif process.exitcode != 0:
                self.code = 1
