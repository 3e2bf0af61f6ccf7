"""Strawberry's schema extension hooks, run without building a context manager per hook.

Every operation runs four phases (operation, parsing, validation, execution), and for each
Strawberry's runner looks at every extension anew: it fetches the hook from the class, asks
`inspect` what kind of function it is, and wraps a generator hook in a fresh
`contextlib.contextmanager` (functools.update_wrapper included) entered through an ExitStack.
With our dozen extensions that was ~300 Python calls of every request's ~2,400 for
`{ __typename }`. Here the kind of each class's hook is found once per class, and a phase
drives the hooks' generators itself, with the same order and the same exception rules as the
ExitStack it replaces: hooks are entered in order and left in reverse; an exception raised
inside the phase (or by a later hook) is thrown into each generator still open, which may
replace it or swallow it (hiding it from the hooks entered before it; it still leaves the
phase, as with Strawberry's managers). A hook that fails on entry fails the phase, and the
hooks already entered are left with its exception first (Strawberry left them suspended).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from functools import partial
from types import TracebackType
from typing import Any, Literal

from graphql.execution.middleware import MiddlewareManager
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext, StreamExecutionResult

from schema.shared_extension import SHARED_HOOKS, SharedExtension

NONE, GENERATOR, ASYNC_GENERATOR, COROUTINE, FUNCTION = range(5)
# Added to the kind of a shared extension's hook (schema.shared_extension): it is given the
# operation's context (then the hook's own arguments).
SHARED = 8
_KINDS: dict[tuple[type, str], int] = {}
# Per tuple of extension classes and hook name: (position, kind) of each hook that is not
# SchemaExtension's own. The classes are the same on every request, so a phase finds its hooks
# with one lookup instead of asking every extension (~70 Python calls a request).
_PLANS: dict[tuple[tuple[type, ...], str], list[tuple[int, int]]] = {}


def hook_kind(cls: type, name: str) -> int:
    """What `cls`'s hook `name` is (NONE when it keeps SchemaExtension's), found once per class;
    a shared extension's hook for `name` has its kind plus SHARED."""
    key = (cls, name)
    kind = _KINDS.get(key)
    if kind is None:
        shared = SHARED_HOOKS.get(name) if issubclass(cls, SharedExtension) else None
        hook = getattr(cls, name) if shared is None else getattr(cls, shared, None)
        if hook is None or hook is getattr(SchemaExtension, name):
            kind = NONE
        elif inspect.isgeneratorfunction(hook):
            kind = GENERATOR
        elif inspect.isasyncgenfunction(hook):
            kind = ASYNC_GENERATOR
        elif inspect.iscoroutinefunction(hook):
            kind = COROUTINE
        elif callable(hook):
            kind = FUNCTION
        else:
            raise ValueError(f"Hook {name} on {cls} must be callable, received {hook!r}")
        if shared is not None and kind != NONE:
            kind |= SHARED
        _KINDS[key] = kind
    return kind


def hook_plan(classes: tuple[type, ...], name: str) -> list[tuple[int, int]]:
    """Where the hooks `name` of extensions of `classes` are and what kind each is."""
    key = (classes, name)
    plan = _PLANS.get(key)
    if plan is None:
        plan = [(i, kind) for i, cls in enumerate(classes) if (kind := hook_kind(cls, name))]
        _PLANS[key] = plan
    return plan


class Phase:
    """One lifecycle phase of the request's extensions (an async or plain context manager)."""

    __slots__ = ("hooks", "open")

    def __init__(
        self,
        extensions: list[SchemaExtension],
        name: str,
        classes: tuple[type, ...] | None = None,
        context: ExecutionContext | None = None,
        args: tuple[Any, ...] = (),
    ) -> None:
        plan = hook_plan(tuple(map(type, extensions)) if classes is None else classes, name)
        self.hooks: list[tuple[int, Callable[[], Any]]] = []
        for i, kind in plan:
            if kind & SHARED:
                hook = getattr(extensions[i], SHARED_HOOKS[name])
                self.hooks.append((kind & ~SHARED, partial(hook, context, *args)))
            else:
                hook = getattr(extensions[i], name)
                self.hooks.append((kind, partial(hook, *args) if args else hook))
        self.open: list[tuple[int, Any]] = []

    async def __aenter__(self) -> None:
        try:
            for kind, hook in self.hooks:
                if kind == GENERATOR:
                    self._started(kind, hook(), next)
                elif kind == ASYNC_GENERATOR:
                    generator = hook()
                    try:
                        await generator.__anext__()
                    except StopAsyncIteration:
                        raise RuntimeError("generator didn't yield") from None
                    self.open.append((kind, generator))
                elif kind == COROUTINE:
                    await hook()
                else:
                    hook()
        except BaseException:
            # Leave the hooks already entered (they may replace the error), then fail.
            await self.__aexit__(*sys.exc_info())
            raise

    def __enter__(self) -> None:
        try:
            for kind, hook in self.hooks:
                if kind in (ASYNC_GENERATOR, COROUTINE):
                    raise RuntimeError(
                        f"SchemaExtension hook {hook} failed to complete synchronously."
                    )
                if kind == GENERATOR:
                    self._started(kind, hook(), next)
                else:
                    hook()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise

    def _started(self, kind: int, generator: Any, step: Callable[[Any], Any]) -> None:
        try:
            step(generator)
        except StopIteration:
            raise RuntimeError("generator didn't yield") from None
        self.open.append((kind, generator))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        pending, raised = exc, False
        while self.open:
            kind, generator = self.open.pop()
            try:
                if kind == ASYNC_GENERATOR:
                    await _leave_async(generator, pending)
                else:
                    _leave(generator, pending)
                pending = None  # left normally, or the generator swallowed the exception
            except BaseException as error:
                if error is not pending:
                    if pending is not None and error.__context__ is None:
                        error.__context__ = pending
                    raised = True
                pending = error
        if pending is None:
            # A hook that swallows the exception hides it from the hooks entered before it, but
            # it still leaves the phase: Strawberry's managers never suppress one either.
            return False
        if pending is exc and not raised:
            return False
        raise pending

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        # __aexit__'s loop, run to its end here: a synchronous phase entered no async hook, so
        # the coroutine never suspends (one unwinding loop for both kinds of phase).
        leaving = self.__aexit__(exc_type, exc, tb)
        try:
            leaving.send(None)
        except StopIteration as done:
            result: Literal[False] = done.value
            return result
        leaving.close()
        raise RuntimeError("a synchronous phase awaited while leaving its hooks")


def _leave(generator: Any, exc: BaseException | None) -> None:
    """Resume a hook's generator after the phase: to its end, or with the phase's exception."""
    try:
        if exc is None:
            next(generator)
        else:
            generator.throw(exc)
    except StopIteration:
        return
    raise RuntimeError("generator didn't stop")


async def _leave_async(generator: Any, exc: BaseException | None) -> None:
    try:
        if exc is None:
            await generator.__anext__()
        else:
            await generator.athrow(exc)
    except StopAsyncIteration:
        return
    raise RuntimeError("generator didn't stop")


class HookRunner(SchemaExtensionsRunner):
    """Strawberry's runner with our phases; results and streamed results are Strawberry's."""

    def __init__(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> None:
        super().__init__(execution_context=execution_context, extensions=extensions)
        self.classes = tuple(map(type, self.extensions))

    def operation(self) -> Phase:  # type: ignore[override]
        """The operation's hooks (on_operation)."""
        return Phase(self.extensions, "on_operation", self.classes, self.execution_context)

    def validation(self) -> Phase:  # type: ignore[override]
        """The validation's hooks (on_validate)."""
        return Phase(self.extensions, "on_validate", self.classes, self.execution_context)

    def parsing(self) -> Phase:  # type: ignore[override]
        """The parse's hooks (on_parse)."""
        return Phase(self.extensions, "on_parse", self.classes, self.execution_context)

    def executing(self) -> Phase:  # type: ignore[override]
        """The execution's hooks (on_execute)."""
        return Phase(self.extensions, "on_execute", self.classes, self.execution_context)

    async def get_extensions_results(self, ctx: ExecutionContext) -> dict[str, Any]:
        """Strawberry's merge of the extensions' results, in order, skipping the extensions
        that keep SchemaExtension's empty `get_results` (awaiting each was ~6 calls)."""
        data: dict[str, Any] = {}
        for i, _ in hook_plan(self.classes, "get_results"):
            value = self.extensions[i].get_results()
            if inspect.isawaitable(value):
                value = await value
            data.update(value)
        data.update(ctx.extensions_results)
        return data

    def on_stream_result(self, result: StreamExecutionResult) -> Phase:  # type: ignore[override]
        """Each result of a stream (a subscription's events; on_stream_result)."""
        return Phase(
            self.extensions, "on_stream_result", self.classes, self.execution_context, (result,)
        )


# A manager without middleware holds nothing of a request (graphql-core returns each resolver
# unwrapped), so every operation whose extensions have no per-field `resolve` shares this one.
_NO_MIDDLEWARE = MiddlewareManager()
_RESOLVES: dict[tuple[type[SchemaExtension], ...], bool] = {}


def middleware_manager(extensions: list[SchemaExtension]) -> MiddlewareManager:
    """Strawberry's per-operation manager of the extensions' `resolve` hooks, or the shared
    empty one when none has such a hook (found once per tuple of extension classes)."""
    classes: tuple[type[SchemaExtension], ...] = tuple(map(type, extensions))
    resolves = _RESOLVES.get(classes)
    if resolves is None:
        resolves = _RESOLVES[classes] = any(cls._implements_resolve() for cls in classes)
    if resolves:
        return MiddlewareManager(*(e for e in extensions if e._implements_resolve()))
    return _NO_MIDDLEWARE


def hook_runner(
    execution_context: ExecutionContext, extensions: list[SchemaExtension]
) -> HookRunner:
    """The runner DpoSchema gives every operation."""
    return HookRunner(execution_context=execution_context, extensions=extensions)
