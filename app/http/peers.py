"""/metrics of a `dpo web` with several workers: every worker's counters, in one answer.

The kernel hands a scrape to any one worker, and each counts only what it served: a scrape of
one worker's registry would jump between workers' figures from one scrape to the next. So each
worker also serves its registry on a Unix socket in the supervisor's private folder
(`worker-<n>.sock`, app.server.workers), and the worker answering /metrics adds every other
worker's, each sample labelled `worker="<n>"` (its own too). Sum over `worker` for the
service's figures; a replaced worker starts its counters from zero under the same label, which
Prometheus' rate() treats as a counter reset.

The gauges read from the database at scrape time (SHARED: the listener's and the sender's
state) are the same for every worker: only the answering worker's are given, unlabelled. A
worker that does not answer within PEER_TIMEOUT (busy, or being replaced) is left out of that
scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

PEER_TIMEOUT = 2.0  # seconds


class MetricsPeers:
    """This worker's registry for the others, and theirs for its /metrics."""

    def __init__(self, folder: Path, index: int) -> None:
        self.folder = folder
        self.index = index
        self._server: asyncio.AbstractServer | None = None

    def path(self, index: int) -> Path:
        """The Unix socket of worker `index`."""
        return self.folder / f"worker-{index}.sock"

    async def start(self, registry: CollectorRegistry) -> None:
        """Serve `registry`'s text to whoever connects (the other workers' /metrics)."""

        async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                writer.write(generate_latest(registry))
                await writer.drain()
            finally:
                writer.close()

        path = self.path(self.index)
        path.unlink(missing_ok=True)  # a replaced worker's socket
        self._server = await asyncio.start_unix_server(answer, path=str(path))

    async def stop(self) -> None:
        """Stop serving and remove the socket."""
        if self._server is not None:
            self._server.close()
            self._server = None
        self.path(self.index).unlink(missing_ok=True)

    async def gather(self, own: bytes, shared: frozenset[str]) -> bytes:
        """Every worker's exposition as one, from this worker's text and the others' sockets."""
        texts = {self.index: own}
        others = sorted(
            int(p.stem.removeprefix("worker-"))
            for p in self.folder.glob("worker-*.sock")
            if p.stem.removeprefix("worker-").isdigit()
        )
        fetched = await asyncio.gather(*(self._fetch(n) for n in others if n != self.index))
        texts.update((n, text) for n, text in fetched if text is not None)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Merged(texts, self.index, shared))
        return generate_latest(registry)

    async def _fetch(self, index: int) -> tuple[int, bytes | None]:
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(PEER_TIMEOUT):
                reader, writer = await asyncio.open_unix_connection(str(self.path(index)))
                try:
                    return index, await reader.read()
                finally:
                    writer.close()
        return index, None


class _Merged:
    """A collector of the parsed workers' families, labelled by worker."""

    def __init__(self, texts: dict[int, bytes], own: int, shared: frozenset[str]) -> None:
        self.texts = texts
        self.own = own
        self.shared = shared

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, Metric] = {}
        for index, text in sorted(self.texts.items()):
            for family in text_string_to_metric_families(text.decode()):
                if family.name in self.shared:
                    if index == self.own:
                        merged[family.name] = family
                    continue
                target = merged.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                target.samples.extend(_labelled(family, index))
        return list(merged.values())


def _labelled(family: Metric, index: int) -> Iterator[Sample]:
    for sample in family.samples:
        yield sample._replace(labels={**sample.labels, "worker": str(index)})
