"""A lean HTTP/1.1 load generator: keep-alive connections on raw asyncio streams.

A general-purpose client (httpx) costs about a millisecond of CPU per request, which on a
2-core machine shared with the server caps what any benchmark can show. Here each request
is one pre-encoded write and the answer is read by its Content-Length, so the generator's
own cost stays in the tens of microseconds. Responses must be 200 and carry no GraphQL
"errors" member; anything else stops the run with the offending answer.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_CONTENT_LENGTH = b"\r\ncontent-length:"


class LoadError(RuntimeError):
    """The server answered something other than a successful GraphQL response."""


@dataclass(frozen=True)
class Target:
    """Where to send, and the exact bytes of one request."""

    host: str
    port: int
    request: bytes


def post_request(base: str, path: str, body: bytes, headers: dict[str, str]) -> Target:
    """A keep-alive POST of `body` to `base` + `path`, encoded once."""
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Connection: keep-alive",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return Target(host=host, port=port, request=("\r\n".join(lines) + "\r\n\r\n").encode() + body)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lowered = head.lower()
    start = lowered.find(_CONTENT_LENGTH)
    if start < 0:
        raise LoadError(f"answer without Content-Length: {head[:200]!r}")
    start += len(_CONTENT_LENGTH)
    length = int(lowered[start : lowered.index(b"\r\n", start)])
    return status, await reader.readexactly(length)


async def _connection(target: Target, deadline: float, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection(target.host, target.port)
    clock = time.perf_counter
    try:
        while (start := clock()) < deadline:
            writer.write(target.request)
            status, body = await _read_response(reader)
            latencies.append(clock() - start)
            if status != 200 or b'"errors"' in body:
                raise LoadError(f"HTTP {status}: {body[:500]!r}")
    finally:
        writer.close()


async def _client(target: Target, seconds: float, connections: int) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    await asyncio.gather(*(_connection(target, deadline, latencies) for _ in range(connections)))
    return latencies


def _client_process(args: tuple[Target, float, int]) -> tuple[list[float], float]:
    """One client process: its latencies and the CPU seconds it spent."""
    try:
        import uvloop  # the server's loop too (uvicorn[standard])

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency
        runner = asyncio.run
    cpu = time.process_time()
    latencies = runner(_client(*args))
    return latencies, time.process_time() - cpu


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(
    target: Target, *, seconds: float, connections: int, clients: int, server_pid: int | None = None
) -> dict[str, float]:
    """Drive `target` from `clients` processes with `connections` each; the figures."""
    server_cpu = process_cpu_seconds(server_pid) if server_pid else 0.0
    with multiprocessing.Pool(clients) as pool:
        results = pool.map(_client_process, [(target, seconds, connections)] * clients)
    server_cpu = process_cpu_seconds(server_pid) - server_cpu if server_pid else 0.0
    latencies = sorted(x for part, _ in results for x in part)
    client_cpu = sum(cpu for _, cpu in results)
    quantiles = statistics.quantiles(latencies, n=100)
    count = len(latencies)
    figures = {
        "requests": count,
        "rps": round(count / seconds, 1),
        "p50_ms": round(quantiles[49] * 1000, 2),
        "p99_ms": round(quantiles[98] * 1000, 2),
        "client_cpu_us_per_request": round(client_cpu / count * 1e6, 1),
    }
    if server_pid:
        figures["server_cpu_us_per_request"] = round(server_cpu / count * 1e6, 1)
    return figures
