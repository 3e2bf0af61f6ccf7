"""Context.close closes the loaders a request built, and builds none when it used none."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from starlette.requests import Request

from schema.context import Context


class Loaders:
    closed = 0

    async def close(self) -> None:
        Loaders.closed += 1


def context(made: list[Any]) -> Context:
    def make(sessions: object, *, shared: bool, connections: object) -> Loaders:
        made.append(sessions)
        return Loaders()

    runtime = SimpleNamespace(reads=object(), read_connections=object())
    request = Request({"type": "http", "headers": []})
    return Context(request=request, runtime=runtime, make_loaders=make)  # type: ignore[arg-type]


async def test_unused_loaders_are_neither_built_nor_closed() -> None:
    made: list[Any] = []
    await context(made).close()
    assert made == []
    assert Loaders.closed == 0


async def test_built_loaders_are_closed() -> None:
    made: list[Any] = []
    used = context(made)
    assert used.loaders is used.loaders
    await used.close()
    assert len(made) == 1
    assert Loaders.closed == 1
