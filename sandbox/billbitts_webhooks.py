"""The sandbox BillBitts' webhook sender, with its fault switches.

Deliveries go to `url`, signed with `secrets` (several: a key rotation) as BillBitts does,
retried like a provider retries (non-2xx or no answer: again after a short wait, up to
`attempts`). Fault switches (`POST /billbitts/_sandbox/webhooks`):

    {"duplicates": 3}          every event sent 3 times (one after the other)
    {"concurrent": true}       ... and those copies sent at once
    {"hold": true}             events wait until `POST /billbitts/_sandbox/webhooks/flush`
                               {"order": "reverse" | "fifo"} (out-of-order delivery)
    {"bad_signature": 1}       the first attempt of each delivery signed with a wrong secret
    {"stale": 1}               the first attempt stamped 10 minutes in the past
    {"delay": 2.5}             each delivery waits this long first (late deliveries)
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from dpo.payments.signature import HEADER, header_value

STALE_SECONDS = 600


@dataclass
class WebhookFaults:
    """What goes wrong with deliveries."""

    duplicates: int = 1
    concurrent: bool = False
    hold: bool = False
    bad_signature: int = 0
    stale: int = 0
    delay: float = 0.0

    def set(self, body: dict[str, Any]) -> None:
        """Replace the switches given."""
        self.duplicates = max(1, int(body.get("duplicates", self.duplicates)))
        self.concurrent = bool(body.get("concurrent", self.concurrent))
        self.hold = bool(body.get("hold", self.hold))
        self.bad_signature = int(body.get("bad_signature", self.bad_signature))
        self.stale = int(body.get("stale", self.stale))
        self.delay = float(body.get("delay", self.delay))


@dataclass
class WebhookSender:
    """Signs and sends events; keeps a log of every attempt."""

    url: str | None = None
    secrets: list[bytes] = field(default_factory=list)
    attempts: int = 5
    retry_wait: float = 0.5
    faults: WebhookFaults = field(default_factory=WebhookFaults)
    held: list[bytes] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def reset(self) -> None:
        """No faults, nothing held, empty log."""
        self.faults = WebhookFaults()
        self.held.clear()
        self.log.clear()

    def configure(self, body: dict[str, Any]) -> None:
        """Target, secrets and retry policy (`url`, `secrets`, `attempts`, `retry_wait`)."""
        if "url" in body:
            self.url = str(body["url"])
        if "secrets" in body:
            self.secrets = [str(s).encode() for s in body["secrets"]]
        self.attempts = int(body.get("attempts", self.attempts))
        self.retry_wait = float(body.get("retry_wait", self.retry_wait))

    def emit(self, body: bytes) -> None:
        """Send (or hold) one event's body, in the background."""
        if self.faults.hold:
            self.held.append(body)
            return
        self._spawn(self._deliver_copies(body))

    def flush(self, order: str = "fifo") -> int:
        """Send every held event, oldest first or newest first; how many."""
        held, self.held = self.held, []
        if order == "reverse":
            held.reverse()
        self._spawn(self._deliver_in_order(held))
        return len(held)

    @property
    def busy(self) -> bool:
        """Whether deliveries are still in flight."""
        return bool(self._tasks)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_in_order(self, bodies: list[bytes]) -> None:
        for body in bodies:
            await self._deliver_copies(body)

    async def _deliver_copies(self, body: bytes) -> None:
        if self.faults.delay:
            await asyncio.sleep(self.faults.delay)
        copies = [self._deliver(body) for _ in range(self.faults.duplicates)]
        if self.faults.concurrent:
            await asyncio.gather(*copies)
        else:
            for copy in copies:
                await copy

    async def _deliver(self, body: bytes) -> None:
        if not self.url or not self.secrets:
            self.log.append({"status": None, "error": "no webhook url or secret configured"})
            return
        async with httpx.AsyncClient(timeout=10) as client:
            for attempt in range(1, self.attempts + 1):
                now = int(time.time())
                secrets = self.secrets
                if attempt <= self.faults.bad_signature:
                    secrets = [b"not-the-secret"]
                stamp = now - STALE_SECONDS if attempt <= self.faults.stale else now
                headers = {
                    HEADER: header_value(secrets, stamp, body),
                    "Content-Type": "application/json",
                }
                entry: dict[str, Any] = {"attempt": attempt, "body": body.decode()}
                try:
                    response = await client.post(self.url, content=body, headers=headers)
                    entry["status"] = response.status_code
                except httpx.HTTPError as error:
                    entry["status"], entry["error"] = None, type(error).__name__
                self.log.append(entry)
                if entry["status"] is not None and 200 <= entry["status"] < 300:
                    return
                await asyncio.sleep(self.retry_wait * attempt)
