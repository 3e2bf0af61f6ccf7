"""The vocabulary of `check --deploy`: one problem per misconfigured variable, and its report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

INVALID = "dpo.E018"


class Severity(StrEnum):
    """How bad a problem is; any problem fails the check."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One misconfigured variable, phrased without its value."""

    variable: str
    message: str
    id: str
    severity: Severity


def problem(variable: str, problem_id: str, message: str) -> Problem:
    """A problem whose severity follows its id: dpo.E… errors, dpo.W… warnings."""
    severity = Severity.ERROR if problem_id.startswith("dpo.E") else Severity.WARNING
    return Problem(variable, message, problem_id, severity)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def format_problems(problems: Iterable[Problem]) -> str:
    """One `VARIABLE: message [id]` line per problem, then a summary line."""
    items = list(problems)
    if not items:
        return "Deployment check found no problems."
    errors = sum(p.severity is Severity.ERROR for p in items)
    lines = [f"{p.variable}: {p.message} [{p.id}]" for p in items]
    lines.append(
        f"Deployment check found {_plural(len(items), 'problem')} "
        f"({_plural(errors, 'error')}, {_plural(len(items) - errors, 'warning')})."
    )
    return "\n".join(lines)
