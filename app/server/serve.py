"""How `dpo web` runs uvicorn: on a socket bound up front, with our protocols and timeouts."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
from collections.abc import Callable
from types import FrameType

from starlette.types import ASGIApp

from dpo.settings import Settings

logger = logging.getLogger(__name__)

WS_MAX_BYTES = 1024 * 1024  # the same cap as HTTP bodies (docs/WEB.md)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; OSError (e.g. EADDRINUSE) if it cannot be had.

    Bound before the embedded servers and the application start, so a taken port ends
    `dpo web` at once with one line instead of after start-up (where uvicorn's failure path
    waited on the application's shutdown).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As uvicorn and asyncio do: reuse a port whose old connections are in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(
    application: ASGIApp,
    sock: socket.socket,
    settings: Settings,
    *,
    on_shutdown: Callable[[], None] = lambda: None,
) -> int:
    """Serve until SIGTERM/SIGINT; the exit code (1 when the server never started).

    On SIGTERM (a deploy's old replica, docs/RUNBOOK.md): stop accepting, close idle
    connections, close WebSockets with 1001, call `on_shutdown` (it ends the event streams,
    app.server.drain), give requests in flight WEB_DRAIN_SECONDS, then run the lifespan's shutdown.
    """
    import uvicorn

    from app.server.http_protocol import with_deadlines
    from app.server.ws_protocol import with_close_timeout

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            on_shutdown()
            await super().shutdown(sockets)

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            # uvicorn raises a SIGTERM again once it has shut down, so the process dies of it
            # (exit -15) before `dpo web` closes its socket and embedded servers. A drained
            # server has stopped cleanly: exit 0 instead.
            while signal.SIGTERM in self._captured_signals:
                self._captured_signals.remove(signal.SIGTERM)

    config = uvicorn.Config(
        application,
        log_level=settings.log_level.lower(),
        log_config=None,
        # Forwarded headers are read by app.http.forwarded, from trusted proxies only.
        proxy_headers=False,
        http=with_deadlines(
            header_timeout=settings.http_header_timeout, body_timeout=settings.http_body_timeout
        ),
        # Longer than Railway's edge keeps an idle connection (settings.py says why).
        timeout_keep_alive=settings.http_keep_alive_seconds,
        timeout_graceful_shutdown=settings.web_drain_seconds,
        ws=with_close_timeout(settings.ws_close_timeout),
        ws_max_size=WS_MAX_BYTES,
        ws_per_message_deflate=False,
    )
    server = Server(config)
    host, port = sock.getsockname()[:2]
    logger.info("dpo web listening on %s:%s", host, port)
    # uvicorn re-raises the Ctrl-C it handled after shutting down; uvicorn.run ignores it too.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    return 0 if server.started else 1
