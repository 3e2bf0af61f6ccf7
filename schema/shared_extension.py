"""Schema extensions built once per schema, for those that keep nothing of an operation.

Strawberry builds every extension anew for each operation (so that one operation's state is
never another's) and hands it the operation through `self.execution_context`. Most of ours
keep nothing between their hooks but that context: building a dozen objects per request
bought nothing. A `SharedExtension` is built once, when the schema is (DpoSchema), and serves
every operation at once, so it must keep no state of an operation: its hooks take the
operation's `ExecutionContext` as their argument (`operation`, `parse`, `validate`, `execute`,
`stream_result`), run by schema.hooks. Strawberry's `self.execution_context` on a shared
object would be whichever operation set it last, so it is refused. An extension with state of
its own (schema.budget's QueryBudget) stays a plain SchemaExtension, built per operation.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from typing import NoReturn

from strawberry.extensions import SchemaExtension

# Strawberry's hook -> the shared extension's hook, which takes the context (then the result).
SHARED_HOOKS = {
    "on_operation": "operation",
    "on_parse": "parse",
    "on_validate": "validate",
    "on_execute": "execute",
    "on_stream_result": "stream_result",
}


def _not_the_operations(extension: SchemaExtension) -> NoReturn:
    """Never the operation's: a shared hook reads the context it is given."""
    raise AttributeError(
        f"{type(extension).__name__} is shared by every operation: read the context its hook "
        "is given, not self.execution_context"
    )


class SharedExtension(SchemaExtension):
    """One object for every operation of a schema; its hooks are given the operation."""

    # Strawberry sets it on every extension of every operation; a shared one keeps none. The
    # setter is a C function whose answer is dropped (`operator.is_(extension, value)`), not a
    # Python one: the assignment then costs no Python call per shared extension per operation.
    execution_context = property(_not_the_operations, operator.is_)  # type: ignore[arg-type]

    def on_operation(self) -> Iterator[None]:
        """Run only by DpoSchema's runner: a plain Strawberry schema would skip every hook."""
        raise RuntimeError(
            f"{type(self).__name__} is a shared extension: use it in a DpoSchema (schema.root)"
        )
