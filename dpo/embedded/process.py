"""A child server process that dies with its parent and stops cleanly."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


class ServerError(RuntimeError):
    """A server did not start or stop as asked."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Tell whether something accepts connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def pid_alive(pid: int) -> bool:
    """Tell whether a process with this pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent(sig: int) -> Callable[[], None]:
    # Linux delivers `sig` to the child when the parent dies, even by SIGKILL,
    # so a crashed test run or CLI never leaves a server behind.
    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig)
        os.setpgrp()

    return preexec


class ChildServer:
    """One server process we started; stop() ends it with its polite signal first."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        stop_signal: int,
        user: str | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.stop_signal = stop_signal
        self.user = user
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Spawn the process with its output going to its log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                user=self.user,
                cwd=self.cwd,
                preexec_fn=_die_with_parent(self.stop_signal),
            )
        finally:
            log.close()
        logger.debug("started %s pid=%s", self.name, self.process.pid)

    def wait_ready(self, ready: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait until ready() holds, failing with the log tail if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServerError(
                    f"{self.name} exited with {self.process.returncode}: {self.log_tail()}"
                )
            if ready():
                return
            time.sleep(0.05)
        self.stop()
        raise ServerError(f"{self.name} not ready after {timeout:.0f}s: {self.log_tail()}")

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of the server's log, for error messages."""
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 15.0) -> None:
        """Stop politely, then firmly; never leave the process running."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(self.stop_signal)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop in %.0fs; killing it", self.name, timeout)
            process.kill()
            process.wait(5)
        logger.debug("stopped %s", self.name)


def kill_pid(pid: int, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Signal a process we did not spawn ourselves and wait for it to go."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
