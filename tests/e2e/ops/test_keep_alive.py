"""HTTP_KEEP_ALIVE_SECONDS reaches uvicorn: an idle kept-alive connection lives that long.

Railway's edge keeps idle connections to us 60 s; closing ours earlier (uvicorn's default is
5 s) races the edge's next request on it, a 502 for the client. The default (65 s) keeps a
connection idle for longer than uvicorn's 5 s.
"""

from __future__ import annotations

import asyncio
import socket

from tests.e2e.conftest import SharedWeb, base_env

REQUEST = b"GET /api/health/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _request(sock: socket.socket) -> bytes:
    sock.sendall(REQUEST)
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        assert chunk, f"closed mid-answer: {answer!r}"
        answer += chunk
    return answer


async def test_default_outlives_uvicorns_five_seconds(
    migrated_url: str, redis_url: str, shared_web: SharedWeb
) -> None:
    base = shared_web(base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url))
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        assert _request(sock).startswith(b"HTTP/1.1 200")
        await asyncio.sleep(7)  # idle past uvicorn's default keep-alive
        assert _request(sock).startswith(b"HTTP/1.1 200")  # the same connection
