"""What `dpo web` ends at once when it is told to stop, instead of waiting for it to finish.

On SIGTERM uvicorn stops accepting, closes idle connections, tells WebSockets to close (1001,
app.server.ws_protocol) and waits up to WEB_DRAIN_SECONDS for requests in flight. An event stream
never finishes by itself, so it would hold the drain to its end and then be cut: each open
stream registers here, and `begin` ends them all cleanly (the response's last chunk is
written; the client reconnects with Last-Event-ID and resumes, app.subscriptions.sse).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Drain:
    """The stops of the open streams, called once when the server begins to shut down."""

    def __init__(self) -> None:
        self.draining = False
        self._stops: set[Callable[[], None]] = set()

    def register(self, stop: Callable[[], None]) -> Callable[[], None]:
        """Call `stop` when the drain begins (at once if it has); returns the unregister."""
        if self.draining:
            stop()
        self._stops.add(stop)
        return lambda: self._stops.discard(stop)

    def begin(self) -> None:
        """End every registered stream; later registrations are ended as they come."""
        self.draining = True
        stops, self._stops = list(self._stops), set()
        if stops:
            logger.info("shutting down: ending %d event stream(s)", len(stops))
        for stop in stops:
            stop()
