"""The servers a benchmark runs against, started in a scratch folder and removed afterwards.

bench/ingest.py, bench/chaos.py and bench/memory.py (which brings its own cached chain) need
PostgreSQL, Redis and anvil; `bench_stack` starts
the ones the environment does not name (`DATABASE_URL`, `REDIS_URL`, when `reuse` allows),
yields their URLs and stops whatever it started, newest first, however the run ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dpo.embedded.anvil import EmbeddedAnvil
from dpo.embedded.postgres import EmbeddedPostgres
from dpo.embedded.process import free_port
from dpo.embedded.redis import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[1]
CHAIN_ID = 31337


@dataclass
class Stack:
    """URLs of the servers in use, and the embedded ones started for this run."""

    scratch: Path
    database_url: str = ""
    redis_url: str = ""
    rpc_url: str = ""
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    anvil: EmbeddedAnvil | None = None
    started: list[Any] = field(default_factory=list)

    def restart_redis(self) -> None:
        """Stop the embedded Redis (SIGTERM, nothing persisted) and start it on the same port."""
        assert self.redis is not None, "only an embedded Redis can be restarted"
        self.redis.stop()
        self.redis.start()


def pid_of(server: Any) -> int | None:
    """The pid of an embedded server this run started, else None."""
    child = getattr(server, "server", None)
    process = getattr(child, "process", None)
    return None if process is None else int(process.pid)


@contextlib.contextmanager
def bench_stack(
    name: str, *, reuse: bool = True, prune_history: bool = False, anvil: bool = True
) -> Iterator[Stack]:
    """PostgreSQL, Redis and (unless `anvil` is False: the caller brings its chain) anvil for
    one run under .dpo/bench/<name>-<pid>/."""
    stack = Stack(scratch=ROOT / ".dpo" / "bench" / f"{name}-{os.getpid()}")
    try:
        stack.database_url = (os.environ.get("DATABASE_URL") if reuse else None) or ""
        if not stack.database_url:
            stack.postgres = EmbeddedPostgres(stack.scratch / "pg", free_port())
            stack.database_url = stack.postgres.start()
            stack.started.append(stack.postgres)
        stack.redis_url = (os.environ.get("REDIS_URL") if reuse else None) or ""
        if not stack.redis_url:
            stack.redis = EmbeddedRedis(stack.scratch / "redis", free_port())
            stack.redis_url = stack.redis.start()
            stack.started.append(stack.redis)
        if anvil:
            stack.anvil = EmbeddedAnvil(
                stack.scratch / "anvil",
                free_port(),
                chain_id=CHAIN_ID,
                persist=False,
                prune_history=prune_history,
            )
            stack.rpc_url = stack.anvil.start()
            stack.started.append(stack.anvil)
        yield stack
    finally:
        while stack.started:
            stack.started.pop().stop()
        shutil.rmtree(stack.scratch, ignore_errors=True)
