"""The faults FaultyProxy answers itself, without asking the node: reset, timeout, 429
(with or without Retry-After), any HTTP status, a JSON-RPC error and a null result."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from tests.support.http_answers import send_answer


async def local_answer(
    kind: str,
    argument: str,
    request: Any,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    hang: float,
) -> bool | None:
    """Answer a fault of this kind (True: the connection stays open, False: it closes), or
    None when the kind is not one answered without the node."""
    if kind == "reset":
        return False
    if kind == "timeout":
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader.read(), hang)
        return False
    if kind == "429":
        extra = {}
        if argument.startswith("date:"):
            when = datetime.now(UTC) + timedelta(seconds=float(argument[5:]))
            extra["Retry-After"] = format_datetime(when, usegmt=True)
        elif argument:
            extra["Retry-After"] = argument
        await send_answer(writer, 429, b"rate limited", extra)
        return True
    if kind.isdigit():
        await send_answer(writer, int(kind), b"injected failure")
        return True
    if kind == "rpc":
        code, _, message = argument.partition(":")
        request_id = request.get("id") if isinstance(request, dict) else None
        error = {
            "jsonrpc": "2.0",
            "id": request_id,
            "error": {"code": int(code), "message": message},
        }
        await send_answer(writer, 200, json.dumps(error).encode())
        return True
    if kind == "null":
        request_id = request.get("id") if isinstance(request, dict) else None
        await send_answer(
            writer, 200, json.dumps({"jsonrpc": "2.0", "id": request_id, "result": None}).encode()
        )
        return True
    return None
