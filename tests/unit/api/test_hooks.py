"""schema.hooks runs extension hooks as Strawberry's ExitStack-based managers do, cheaper.

Each case runs the same extensions through Strawberry's OperationContextManager and through
our Phase, recording what every hook saw, and compares the two.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import OperationContextManager
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext

from schema.hooks import HookRunner, Phase
from schema.root import assemble


@strawberry.type
class _Query:
    ok: bool = True


class BoomError(Exception):
    pass


class OtherError(Exception):
    pass


def make(log: list[str]) -> dict[str, type[SchemaExtension]]:
    class Gen(SchemaExtension):
        name = "gen"

        def on_operation(self) -> Iterator[None]:
            log.append(f"{self.name} in")
            try:
                yield
            except Exception as error:
                log.append(f"{self.name} saw {type(error).__name__}")
                raise
            log.append(f"{self.name} out")

    class Gen2(Gen):
        name = "gen2"

    class AsyncGen(SchemaExtension):
        async def on_operation(self) -> AsyncIterator[None]:
            log.append("agen in")
            try:
                yield
            except Exception as error:
                log.append(f"agen saw {type(error).__name__}")
                raise
            log.append("agen out")

    class Swallow(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            try:
                yield
            except BoomError:
                log.append("swallowed")

    class Replace(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            try:
                yield
            except BoomError:
                log.append("replaced")
                raise OtherError from None

    class RaiseOnExit(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            yield
            log.append("raising on exit")
            raise OtherError

    class Coroutine(SchemaExtension):
        async def on_operation(self) -> None:  # type: ignore[override]
            log.append("coroutine")

    class Plain(SchemaExtension):
        def on_operation(self) -> None:  # type: ignore[override]
            log.append("plain")

    class NoHook(SchemaExtension):
        pass

    return {
        "gen": Gen,
        "gen2": Gen2,
        "agen": AsyncGen,
        "swallow": Swallow,
        "replace": Replace,
        "raise_on_exit": RaiseOnExit,
        "coroutine": Coroutine,
        "plain": Plain,
        "none": NoHook,
    }


def extensions_of(names: list[str]) -> tuple[list[str], list[SchemaExtension]]:
    """A new log and the named extensions, recording into it."""
    log: list[str] = []
    classes = make(log)
    return log, [classes[name]() for name in names]


@pytest.fixture
def log_and_classes() -> tuple[list[str], dict[str, type[SchemaExtension]]]:
    log: list[str] = []
    return log, make(log)


@pytest.fixture(scope="module")
def small_schema() -> Any:
    """A schema with one field, built with the app's assemble (and so its hook runner)."""
    return assemble(query=[_Query], mutation=[], subscription=[], debug=False)


def ours(extensions: list[SchemaExtension]) -> Phase:
    return Phase(extensions, "on_operation")


async def run(manager_of: Any, names: list[str], body_raises: bool) -> list[str]:
    log, extensions = extensions_of(names)
    try:
        async with manager_of(extensions):
            log.append("body")
            if body_raises:
                raise BoomError
        log.append("after: no error")
    except Exception as error:
        log.append(f"after: {type(error).__name__}")
    return log


CASES = [
    ["gen", "gen2"],
    ["gen", "agen", "gen2"],
    ["gen", "swallow", "gen2"],
    ["gen", "replace", "gen2"],
    ["gen", "raise_on_exit", "gen2"],
    ["coroutine", "gen", "plain", "none"],
    ["swallow", "replace"],
    ["replace", "swallow"],
]


@pytest.mark.parametrize("names", CASES)
@pytest.mark.parametrize("body_raises", [False, True])
async def test_phase_runs_hooks_as_strawberry_does(names: list[str], body_raises: bool) -> None:
    expected = await run(OperationContextManager, names, body_raises)
    assert await run(ours, names, body_raises) == expected


def run_sync(manager_of: Any, names: list[str], body_raises: bool) -> list[str]:
    log, extensions = extensions_of(names)
    try:
        with manager_of(extensions):
            log.append("body")
            if body_raises:
                raise BoomError
        log.append("after: no error")
    except Exception as error:
        log.append(f"after: {type(error).__name__}")
    return log


SYNC_CASES = [case for case in CASES if "agen" not in case and "coroutine" not in case]


@pytest.mark.parametrize("names", SYNC_CASES)
@pytest.mark.parametrize("body_raises", [False, True])
def test_the_plain_with_leaves_hooks_as_strawberry_does(
    names: list[str], body_raises: bool
) -> None:
    expected = run_sync(OperationContextManager, names, body_raises)
    assert run_sync(ours, names, body_raises) == expected


def test_the_plain_with_refuses_async_hooks_and_runs_the_others(
    log_and_classes: tuple[list[str], dict[str, type[SchemaExtension]]],
) -> None:
    log, classes = log_and_classes
    with Phase([classes["gen"](), classes["plain"]()], "on_operation"):
        log.append("body")
    assert log == ["gen in", "plain", "body", "gen out"]
    with (
        pytest.raises(RuntimeError, match="synchronously"),
        Phase([classes["agen"]()], "on_operation"),
    ):
        pass


def test_the_schema_uses_the_hook_runner(small_schema: Any) -> None:
    context = ExecutionContext(query="{ ok }", schema=small_schema, allowed_operations=())
    assert isinstance(small_schema.create_extensions_runner(context, []), HookRunner)


def test_extensions_without_resolve_share_one_empty_middleware_manager(
    small_schema: Any, log_and_classes: tuple[list[str], dict[str, type[SchemaExtension]]]
) -> None:
    from schema.hooks import middleware_manager

    _, classes = log_and_classes

    class Resolves(SchemaExtension):
        def resolve(self, _next: Any, root: Any, info: Any, *args: str, **kwargs: Any) -> Any:
            return _next(root, info, *args, **kwargs)

    plain = [classes["gen"](), classes["none"]()]
    shared = middleware_manager(plain)
    assert shared is middleware_manager([classes["gen"](), classes["none"]()])
    assert shared.middlewares == ()
    resolving = Resolves()
    mixed = middleware_manager([classes["gen"](), resolving])
    assert mixed is not shared
    assert mixed.middlewares == (resolving,)
    assert small_schema._get_middleware_manager(plain) is shared


async def test_results_merge_in_order_skipping_the_default_ones(small_schema: Any) -> None:
    class A(SchemaExtension):
        def get_results(self) -> dict[str, Any]:
            return {"a": 1, "k": "a"}

    class B(SchemaExtension):
        async def get_results(self) -> dict[str, Any]:
            return {"b": 2, "k": "b"}

    class Quiet(SchemaExtension):
        pass

    context = ExecutionContext(query="{ ok }", schema=small_schema, allowed_operations=())
    context.extensions_results["c"] = 3
    extensions = [A(), Quiet(), B()]
    ours = await HookRunner(context, extensions).get_extensions_results(context)
    theirs = await SchemaExtensionsRunner(context, extensions).get_extensions_results(context)
    assert ours == theirs == {"a": 1, "k": "b", "b": 2, "c": 3}
    assert list(ours) == list(theirs)
