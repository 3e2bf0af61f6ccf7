"""A TCP relay in front of PostgreSQL that records what a client sends and its round trips.

    async with PgWire(server_url) as wire:
        engine = create_engine(wire.url(database_url), pool_size=1)
        ...
        wire.reset()
        await ingest_batch(...)
        wire.round_trips            # times the client waited for the server
        wire.statements()           # the SQL it ran, one entry per execution

A round trip is a client burst followed by the server's answer: the relay counts the times the
client speaks after the server has (pipelined messages sent together are one). Statements are
read from the wire (Parse / Query messages, and Bind for a cached prepared statement, resolved
to its text by name), so they include what the driver sends outside SQLAlchemy (COPY, BEGIN).
The URL asks for no TLS, so the relay can read the messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

PROTOCOL_3 = 196608


@dataclass
class _Connection:
    """One client connection's parse state."""

    buffer: bytearray = field(default_factory=bytearray)
    started: bool = False
    names: dict[str, str] = field(default_factory=dict)
    last: str = "s"


class PgWire:
    """A relay on 127.0.0.1 to the PostgreSQL server of `server_url`."""

    def __init__(self, server_url: str) -> None:
        parts = urlsplit(server_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.round_trips = 0
        # (message type, SQL text or "") in the order the client sent them.
        self.messages: list[tuple[str, str]] = []
        # The same messages grouped by the round trip that sent them.
        self.trips: list[list[tuple[str, str]]] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> PgWire:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    @property
    def port(self) -> int:
        """The relay's port."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def url(self, database_url: str) -> str:
        """`database_url` through the relay, without TLS."""
        parts = urlsplit(database_url)
        user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        query = "ssl=disable" if not parts.query else parts.query + "&ssl=disable"
        netloc = f"{user}127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc, query=query))

    def reset(self) -> None:
        """Forget what was recorded so far."""
        self.round_trips = 0
        self.messages = []
        self.trips = []

    def statements(self) -> list[str]:
        """The SQL executed since the last reset: simple queries and bound statements."""
        return [text for kind, text in self.messages if kind in ("Q", "B")]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        state = _Connection()
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            self._tasks.discard(task)
            return
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer, state, client=True)),
            asyncio.create_task(self._pump(up_reader, writer, state, client=False)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass  # the relay closes: end quietly (asyncio reports a cancelled handler)
        finally:
            for pump in pumps:
                pump.cancel()
            for stream in (writer, up_writer):
                stream.close()
            self._tasks.discard(task)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        state: _Connection,
        *,
        client: bool,
    ) -> None:
        while data := await reader.read(65536):
            if client:
                if state.last == "s" and state.started:
                    self.round_trips += 1
                    self.trips.append([])
                state.last = "c"
                self._parse(state, data)
            else:
                state.last = "s"
            writer.write(data)
            await writer.drain()

    def _parse(self, state: _Connection, data: bytes) -> None:
        state.buffer += data
        buffer = state.buffer
        while True:
            if not state.started:
                if len(buffer) < 8:
                    return
                (length,) = struct.unpack("!i", buffer[:4])
                if len(buffer) < length:
                    return
                (code,) = struct.unpack("!i", buffer[4:8])
                del buffer[:length]
                state.started = code == PROTOCOL_3
                continue
            if len(buffer) < 5:
                return
            (length,) = struct.unpack("!i", buffer[1:5])
            if len(buffer) < 1 + length:
                return
            kind = chr(buffer[0])
            body = bytes(buffer[5 : 1 + length])
            del buffer[: 1 + length]
            self._record(state, kind, body)

    def _record(self, state: _Connection, kind: str, body: bytes) -> None:
        before = len(self.messages)
        self._decode(state, kind, body)
        if self.trips and len(self.messages) > before:
            self.trips[-1].append(self.messages[-1])

    def _decode(self, state: _Connection, kind: str, body: bytes) -> None:
        if kind == "P":
            statement, rest = body.split(b"\0", 1)
            sql = rest.split(b"\0", 1)[0].decode()
            state.names[statement.decode()] = sql
            self.messages.append((kind, sql))
        elif kind == "B":
            _portal, rest = body.split(b"\0", 1)
            bound = rest.split(b"\0", 1)[0].decode()
            self.messages.append((kind, state.names.get(bound, "")))
        elif kind == "Q":
            self.messages.append((kind, body.split(b"\0", 1)[0].decode()))
        else:
            self.messages.append((kind, ""))
