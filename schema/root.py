"""The Schema class and how a schema is put together from root types.

Which root types make up the API is decided where the app is composed (app.graphql.schema):
schema/ declares types and never imports resolvers/.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.execution.middleware import MiddlewareManager
from strawberry.extensions import SchemaExtension
from strawberry.extensions.directives import DirectivesExtension, DirectivesExtensionSync
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from schema import preloaded
from schema.errors import ErrorFormatter, log_errors
from schema.hooks import hook_runner, middleware_manager
from schema.inputs import TextVariables
from schema.scalars import SCALARS
from schema.shared_events import SharedExecutor
from schema.shared_extension import SharedExtension

Extensions = Sequence[type[SchemaExtension] | Callable[[], SchemaExtension]]


class DpoSchema(strawberry.Schema):
    """Logs only unexpected errors, with the request id; the client's mistakes are not noise.

    Shared extensions (schema.shared_extension) are built once, on the schema's first
    operation; the others for every operation.
    """

    _makers: tuple[tuple[object, ...], list[SchemaExtension | Callable[[], SchemaExtension]]] = (
        (),
        [],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Relations a page's resolver filled in resolve without Strawberry's wrapper.
        preloaded.install(self._schema)

    def get_extensions(self, sync: bool = False) -> list[SchemaExtension]:
        """The operation's extensions, in their order: the shared ones and fresh ones."""
        extensions, makers = self._makers
        if extensions is not self.extensions:  # built on first use (and if they are replaced)
            makers = [
                make
                if isinstance(make, SchemaExtension)
                else made
                if isinstance(made := make(), SharedExtension)
                else make
                for make in self.extensions
            ]
            self._makers = (self.extensions, makers)
        resolved = [make if isinstance(make, SchemaExtension) else make() for make in makers]
        if self.directives:
            resolved.append(DirectivesExtensionSync() if sync else DirectivesExtension())
        return resolved

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Replace Strawberry's log-everything default."""
        log_errors(errors, execution_context.context if execution_context else None)

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        """Our extensions' hooks without a context manager built per hook (schema.hooks)."""
        return hook_runner(execution_context, extensions)

    def _get_middleware_manager(self, extensions: list[SchemaExtension]) -> MiddlewareManager:
        """Strawberry's, shared by every operation when no extension resolves fields."""
        return middleware_manager(extensions)


def assemble(
    *,
    query: Sequence[type],
    mutation: Sequence[type],
    subscription: Sequence[type],
    debug: bool,
    extensions: Extensions = (),
) -> strawberry.Schema:
    """A schema whose root types merge the given ones (their fields in this order).

    `extensions` (classes or factories) see errors already formatted.
    """
    roots: dict[str, Any] = {
        name: merge_types(name, tuple(types)) if types else None
        for name, types in (
            ("Query", query),
            ("Mutation", mutation),
            ("Subscription", subscription),
        )
    }
    return DpoSchema(
        query=roots["Query"],
        mutation=roots["Mutation"],
        subscription=roots["Subscription"],
        extensions=[*extensions, TextVariables, partial(ErrorFormatter, debug=debug)],
        config=StrawberryConfig(scalar_map=SCALARS),
        execution_context_class=SharedExecutor,
    )
