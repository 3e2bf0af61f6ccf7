"""Fault switches shared by every simulator: what the next requests get instead of an answer.

A plan is a queue of faults for the next requests, then `always` (or a normal answer):

    "500" / "502" / "503"   that HTTP status, a short text body
    "429" / "429:<s>"       429 Too Many Requests, with `Retry-After: <s>` when given
    "slow:<s>"              wait <s> seconds, then answer normally
    "malformed"             200 with a body that is not even the right syntax
    "wrong_schema"          200 with well-formed JSON/XML of the wrong shape
    "reset"                 headers and part of the body, then the connection is dropped
    "401"/"404"/...         any other status: a refusal
    "ok"                    a normal answer (to fault a later request of a sequence)
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Receive, Scope, Send

ADMIN_PREFIX = "/_sandbox"


class ConnectionDropped(Exception):  # noqa: N818 (a signal to uvicorn, not an error of ours)
    """Raised mid-response so uvicorn closes the connection without finishing the body."""


@dataclass
class Faults:
    """The fault plan of one simulator."""

    malformed_body: bytes = b'{"unterminated": '
    wrong_schema_body: bytes = b'{"unexpected": true}'
    content_type: str = "application/json"
    plan: deque[str] = field(default_factory=deque)
    always: str | None = None
    injected: Counter[str] = field(default_factory=Counter)

    def set(self, plan: Iterable[str] = (), *, always: str | None = None) -> None:
        """Replace the plan: these faults for the next requests, then `always`."""
        self.plan = deque(plan)
        self.always = always

    def clear(self) -> None:
        """Normal answers from now on; counters reset."""
        self.set()
        self.injected.clear()

    def take(self) -> str | None:
        """The fault for the request arriving now, if any."""
        fault = self.plan.popleft() if self.plan else self.always
        if fault == "ok":
            return None
        if fault is not None:
            self.injected[fault.split(":", 1)[0]] += 1
        return fault


class FaultMiddleware:
    """Applies a simulator's fault plan to every request outside the admin paths."""

    def __init__(
        self, app: ASGIApp, faults: Faults, record: Callable[[Scope, str | None], None]
    ) -> None:
        self.app = app
        self.faults = faults
        self.record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        fault = self.faults.take()
        self.record(scope, fault)
        if fault is None:
            await self.app(scope, receive, send)
            return
        kind, _, argument = fault.partition(":")
        if kind == "slow":
            await asyncio.sleep(float(argument or "5"))
            await self.app(scope, receive, send)
        elif kind == "malformed":
            await _answer(send, 200, self.faults.malformed_body, self.faults.content_type)
        elif kind == "wrong_schema":
            await _answer(send, 200, self.faults.wrong_schema_body, self.faults.content_type)
        elif kind == "reset":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", self.faults.content_type.encode()),
                        (b"content-length", b"4096"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b'{"partial', "more_body": True})
            raise ConnectionDropped("sandbox fault: connection dropped mid-answer")
        elif kind == "429":
            headers = [(b"retry-after", argument.encode())] if argument else []
            await _answer(send, 429, b"Too Many Requests", "text/plain", headers)
        elif kind.isdigit():
            await _answer(send, int(kind), f"sandbox fault {kind}".encode(), "text/plain")
        else:
            await _answer(send, 500, f"unknown sandbox fault {kind!r}".encode(), "text/plain")


async def _answer(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
