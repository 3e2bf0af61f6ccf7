"""Which slice of an ordered list a connection's arguments ask for (pure; no database).

Relay's cursor connections spec: `first`/`after` page forwards, `last`/`before` backwards, and
`after` with `before` bound the slice on both sides. We refuse `first` with `last` together
(the spec discourages it and no client needs it), negative sizes, and sizes above the maximum.
A backward page is read in reverse order (so the database stops after `size + 1` rows) and
turned back here, so both directions return items in the connection's own order.

`hasNextPage` / `hasPreviousPage` follow the spec's algorithms:

- forwards: `hasNextPage` is whether more than `first` items lie between the cursors;
  `hasPreviousPage` whether any item sits at or before `after` (false without `after`);
- backwards: `hasPreviousPage` is whether more than `last` items lie between the cursors;
  `hasNextPage` whether any item sits at or after `before` (false without `before`).

"At or before `after`": the item the cursor names belongs to the page before this one, so a
client paging back from this page's start finds it there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from dpo.errors import DomainError, ErrorCode, ValidationError

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class PageSizeExceededError(DomainError):
    """`first` or `last` is above the maximum page size."""

    code = ErrorCode.LIMIT_EXCEEDED


@dataclass(frozen=True)
class Window:
    """What to read: `size` items after `after` and before `before`, from which end."""

    size: int
    backward: bool = False
    after: str | None = None
    before: str | None = None

    @property
    def reverse_side(self) -> str | None:
        """The cursor on the side the page does not grow from (None: nothing to check)."""
        return self.before if self.backward else self.after


def _checked_size(value: int, field: str) -> int:
    if value < 0:
        raise ValidationError(f"{field} must not be negative", field=field)
    if value > MAX_PAGE_SIZE:
        raise PageSizeExceededError(
            f"{field} must be at most {MAX_PAGE_SIZE}", field=field, limit=MAX_PAGE_SIZE
        )
    return value


def page_size(first: int | None, field: str = "first") -> int:
    """`first` (or `last`) checked against the limits, or the default."""
    return DEFAULT_PAGE_SIZE if first is None else _checked_size(first, field)


def window(
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Window:
    """The window a connection's arguments ask for; ValidationError / LIMIT_EXCEEDED if bad.

    Backwards when `last` is given, or `before` without `first` (the page that ends at
    `before`); forwards otherwise, `first` defaulting to DEFAULT_PAGE_SIZE.
    """
    if first is not None and last is not None:
        raise ValidationError("give first or last, not both", field="last", reason="first_and_last")
    if last is not None or (before is not None and first is None):
        return Window(size=page_size(last, "last"), backward=True, after=after, before=before)
    return Window(size=page_size(first), backward=False, after=after, before=before)


@dataclass(frozen=True)
class Slice(Generic[T]):
    """The items of a page in the connection's order, and whether pages lie on either side."""

    items: list[T]
    has_next_page: bool
    has_previous_page: bool


def settle(win: Window, fetched: Sequence[T], *, beyond: bool) -> Slice[T]:
    """The page from at most `size + 1` rows read from the window's growing end.

    `fetched` is in reading order (reversed for a backward window); `beyond` says whether an
    item lies on the other side of the window's reverse-side cursor (`Window.reverse_side`).
    """
    more = len(fetched) > win.size
    items = list(fetched[: win.size])
    if win.backward:
        items.reverse()
        return Slice(
            items=items, has_next_page=win.before is not None and beyond, has_previous_page=more
        )
    return Slice(
        items=items, has_next_page=more, has_previous_page=win.after is not None and beyond
    )
