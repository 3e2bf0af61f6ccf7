"""Text a GraphQL operation carries must be text PostgreSQL can store, on every transport.

PostgreSQL refuses U+0000 in text and a lone surrogate cannot be encoded as UTF-8, so a
string holding either would fail in the driver (INTERNAL) wherever it reaches SQL: a name, an
e-mail, a search, a filter, a note. Rather than guard each field, the schema refuses such a
string anywhere in an operation, before execution: in the variables (`TextVariables`) and in
the document's string literals (`TextLiteralRule`, cached with the rest of validation).
Both answer VALIDATION. The rule is `dpo.inputs.text_problem`.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError, StringValueNode, ValidationRule
from strawberry.types import ExecutionContext

from dpo.errors import ErrorCode
from dpo.inputs import find_bad_text, text_problem
from schema.shared_extension import SharedExtension


class TextLiteralRule(ValidationRule):
    """A string literal of the document holding NUL or a lone surrogate is an error."""

    def enter_string_value(self, node: StringValueNode, *_args: object) -> None:
        """Check one literal."""
        problem = text_problem(node.value)
        if problem is not None:
            self.report_error(
                GraphQLError(
                    f"A string {problem}.", node, extensions={"code": ErrorCode.VALIDATION.value}
                )
            )


class TextVariables(SharedExtension):
    """Refuse the operation when a variable holds such a string (anywhere in its value)."""

    def operation(self, context: ExecutionContext) -> Iterator[None]:
        """Add the literal rule to validation (its result is cached with the document's)."""
        context.validation_rules = (*context.validation_rules, TextLiteralRule)
        yield

    def validate(self, context: ExecutionContext) -> Iterator[None]:
        """Check the variables' values (validation does not see them) before validation runs.

        Before, not after: Strawberry reads the errors inside the hook's block. An earlier
        extension (the validation cache) may have put the document's own errors there first.
        """
        if not context.pre_execution_errors and context.variables:
            found = find_bad_text(context.variables, "$")
            if found is not None:
                where, problem = found
                context.pre_execution_errors = [
                    GraphQLError(
                        f"Variable {where[2:]} {problem}.",
                        extensions={"code": ErrorCode.VALIDATION.value, "field": where[2:]},
                    )
                ]
        yield
