"""The HTTP/1.1 answers of tests.support.faulty_proxy, written by hand so a fault can cut them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

_REASONS = {
    200: "OK",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def parse_body(body: bytes) -> Any:
    """A JSON-RPC request or batch; {} for anything else."""
    try:
        request = json.loads(body)
    except ValueError:
        return {}
    return request if isinstance(request, (dict, list)) else {}


def answer_head(status: int, length: int, extra: Mapping[str, str]) -> bytes:
    """The status line and headers of an answer of `length` JSON bytes."""
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        "Connection: keep-alive",
        *(f"{name}: {value}" for name, value in extra.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def send_answer(
    writer: asyncio.StreamWriter, status: int, body: bytes, extra: Mapping[str, str] | None = None
) -> None:
    """Write one whole answer with its headers."""
    writer.write(answer_head(status, len(body), extra or {}) + body)
    await writer.drain()
