"""An in-process HTTP reverse proxy for JSON-RPC that injects faults on a programmable plan.

    async with FaultyProxy("http://127.0.0.1:8545") as proxy:
        proxy.set_plan(["500", "429:2", "timeout", "truncate"])        # next 4 requests, any method
        proxy.set_plan(["cut"], method="eth_getLogs")                  # only eth_getLogs requests
        proxy.set_rates({"500": 0.1, "timeout": 0.02}, seed=7)         # then at random, seeded
        rpc = RpcClient(urls=[proxy.url], timeout=1)
        ...
        assert proxy.faults_injected["500"] == 1

For each request the proxy takes, in order: the next fault planned for its method, the next
fault planned for any method, a random draw from the rates, else the default ("ok").

Faults (the counter key is the part before the first colon; "ok" is never counted):
  ok                 forward to the upstream and relay its answer
  <status>           answer that HTTP status (e.g. 500, 502, 503) without forwarding
  429[:<s>]          answer 429 with `Retry-After: <s>` (seconds) when given
  429:date:<s>       answer 429 with Retry-After as an HTTP date <s> seconds ahead
  timeout            read the request and never answer (until the client hangs up)
  swallow            forward, then never answer: the upstream acted, the client never hears
  lost[:<status>]    forward, then answer that HTTP status (500 unless given): the upstream
                     acted, the client sees a failure
  reset              close the connection without an answer
  truncate           forward, then answer 200 with only the first half of the JSON body
  cut                forward, then send the headers and half the body and close the connection
  delay:<s>          wait <s> seconds, then forward
  rpc:<code>:<msg>   answer 200 with a JSON-RPC error object {code, message} for the request id
  null               answer 200 with `"result": null` for the request id
  wrongid            forward, then answer with another request id
  lag:<n>            answer as a node <n> blocks behind the upstream: older head, no header
                     above it, eth_getLogs clamped to it (partial or empty), an error for a
                     blockHash-pinned eth_getLogs above it (tests/support/lagging_node.py)
  empty              eth_getLogs of a range answered with [] (a node that lost its receipts)

A batch (a JSON array of calls) is one request of method "batch" with one fault for the whole
answer; `lag` and `empty` answer each item as that node would; tests/support/batch_faults.py
has the faults for batches only (nobatch, drop, itemerror, object).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import httpx

from tests.support.batch_faults import BATCH_FAULTS, batch_answer
from tests.support.http_answers import answer_head, parse_body, send_answer
from tests.support.lagging_node import lagging_answer
from tests.support.local_faults import local_answer


class FaultyProxy:
    """A JSON-RPC reverse proxy on 127.0.0.1 that injects the faults it is told to."""

    def __init__(
        self, upstream: str, *, port: int = 0, seed: int = 0, hang_seconds: float = 60.0
    ) -> None:
        self.upstream = upstream
        self._port = port
        self._hang = hang_seconds
        self._plans: dict[str | None, deque[str]] = {}
        self._rates: dict[str, float] = {}
        self._rate_methods: frozenset[str] | None = None
        self._rng = random.Random(seed)
        self._default = "ok"
        self._server: asyncio.Server | None = None
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        #: Faults injected so far, by kind ("500", "429", "timeout", "truncate", ...).
        self.faults_injected: Counter[str] = Counter()
        #: Requests received so far, by JSON-RPC method ("batch" for batches).
        self.requests_seen: Counter[str] = Counter()
        #: Requests answered from the upstream.
        self.forwarded = 0

    @property
    def port(self) -> int:
        """The port the proxy listens on (known once started)."""
        return self._port

    @property
    def url(self) -> str:
        """The proxy's URL for an RPC client."""
        return f"http://127.0.0.1:{self._port}/"

    @property
    def pending(self) -> int:
        """Planned faults not yet used."""
        return sum(len(queue) for queue in self._plans.values())

    def set_plan(self, faults: Iterable[str], *, method: str | None = None) -> None:
        """Replace the queue of faults for one method (or for any method)."""
        self._plans[method] = deque(faults)

    plan = set_plan

    def set_rates(
        self,
        rates: Mapping[str, float],
        *,
        seed: int | None = None,
        methods: Iterable[str] | None = None,
    ) -> None:
        """Inject faults at random with these probabilities (optionally for some methods only)."""
        if sum(rates.values()) > 1:
            raise ValueError("fault probabilities add up to more than 1")
        self._rates = dict(rates)
        self._rate_methods = frozenset(methods) if methods is not None else None
        if seed is not None:
            self._rng = random.Random(seed)

    def set_default(self, fault: str) -> None:
        """The fault for requests nothing else applies to ("ok" unless set; "500" = down)."""
        self._default = fault

    def clear(self) -> None:
        """Forget plans, rates and the default: forward everything from now on."""
        self._plans.clear()
        self._rates = {}
        self._rate_methods = None
        self._default = "ok"

    async def start(self) -> FaultyProxy:
        """Listen on 127.0.0.1 (on a free port unless one was given)."""
        self._client = httpx.AsyncClient(timeout=30)
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self._port)
        self._port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        """Stop listening and drop open connections."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()  # idle keep-alive connections see EOF and end
        if self._tasks:
            _, busy = await asyncio.wait(set(self._tasks), timeout=1.0)
            for task in busy:
                task.cancel()
            if busy:
                await asyncio.wait(busy)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> FaultyProxy:
        return await self.start()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def _choose(self, method: str) -> str:
        for key in (method, None):
            queue = self._plans.get(key)
            if queue:
                return queue.popleft()
        if self._rates and (self._rate_methods is None or method in self._rate_methods):
            draw = self._rng.random()
            for fault, probability in self._rates.items():
                if draw < probability:
                    return fault
                draw -= probability
        return self._default

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, httpx.HTTPError):
            pass
        except asyncio.CancelledError:
            # Only stop() cancels: end quietly, or asyncio reports the callback's cancellation.
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; tell whether the connection stays open."""
        line = await reader.readline()
        if not line:
            return False
        headers: dict[str, str] = {}
        while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        request = parse_body(body)
        method = "batch" if isinstance(request, list) else str(request.get("method", "?"))
        self.requests_seen[method] += 1
        fault = self._choose(method)
        kind, _, argument = fault.partition(":")
        if kind != "ok":
            self.faults_injected[kind] += 1
        return await self._apply(kind, argument, body, request, reader, writer)

    async def _apply(
        self,
        kind: str,
        argument: str,
        body: bytes,
        request: Any,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        answered = await local_answer(kind, argument, request, reader, writer, hang=self._hang)
        if answered is not None:
            return answered
        if kind == "delay":
            await asyncio.sleep(float(argument))
        if isinstance(request, list) and kind in BATCH_FAULTS:
            assert self._client is not None, "the proxy is not started"
            batch = await batch_answer(
                self._client, self.upstream, self._forward, kind, argument, request
            )
            await send_answer(writer, *batch)
            return True
        if kind in ("lag", "empty"):
            assert self._client is not None, "the proxy is not started"
            lagged, request = await lagging_answer(
                self._client, self.upstream, request, kind, argument
            )
            if lagged is not None:
                await send_answer(writer, 200, lagged)
                return True
            body = json.dumps(request).encode()
        status, answer = await self._forward(body)
        if kind == "truncate":
            await send_answer(writer, status, answer[: len(answer) // 2])
            return True
        if kind == "swallow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.read(), self._hang)
            return False
        if kind == "lost":
            await send_answer(writer, int(argument or 500), b"injected failure after forwarding")
            return True
        if kind == "wrongid":
            answer = json.dumps({**json.loads(answer), "id": 987654321}).encode()
        if kind == "cut":
            head = answer_head(status, len(answer), {})
            writer.write(head + answer[: len(answer) // 2])
            await writer.drain()
            return False
        await send_answer(writer, status, answer)
        return True

    async def _forward(self, body: bytes) -> tuple[int, bytes]:
        assert self._client is not None, "the proxy is not started"
        response = await self._client.post(
            self.upstream, content=body, headers={"Content-Type": "application/json"}
        )
        self.forwarded += 1
        return response.status_code, response.content
