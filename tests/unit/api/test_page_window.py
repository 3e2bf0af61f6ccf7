"""The paging window (dpo.services.page_window) against the Relay cursor connections spec.

The spec's algorithms (ApplyCursorsToEdges, then `first`/`last`, HasPreviousPage and
HasNextPage) are written out here over a plain list, and compared with what a keyset read
(strictly between the cursors, `size + 1` rows from the growing end) plus `settle` gives.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dpo.errors import ValidationError
from dpo.services.page_window import (
    MAX_PAGE_SIZE,
    PageSizeExceededError,
    Window,
    settle,
    window,
)
from schema.relay import Connection, PageInfo, _total_count

Keys = list[int]


def spec_page(
    items: Keys, first: int | None, after: int | None, last: int | None, before: int | None
) -> tuple[Keys, bool, bool]:
    """The spec's edges, hasNextPage and hasPreviousPage, over sorted distinct keys."""
    edges = [k for k in items if (after is None or k > after) and (before is None or k < before)]
    bounded = list(edges)
    if first is not None:
        edges = edges[:first]
    if last is not None:
        edges = edges[max(0, len(edges) - last) :]
    # HasPreviousPage: last set -> more than last between the cursors; else after set and
    # something at or before it; else false. HasNextPage mirrors it.
    if last is not None:
        previous = len(bounded) > last
    else:
        previous = after is not None and any(k <= after for k in items)
    if first is not None:
        following = len(bounded) > first
    else:
        following = before is not None and any(k >= before for k in items)
    return edges, following, previous


def keyset_page(
    items: Keys, first: int | None, after: int | None, last: int | None, before: int | None
) -> tuple[Keys, bool, bool]:
    """What the database does for a window: a keyset read, then `settle`."""
    win = window(
        first=first,
        after=None if after is None else str(after),
        last=last,
        before=None if before is None else str(before),
    )
    between = [k for k in items if (after is None or k > after) and (before is None or k < before)]
    reading = list(reversed(between)) if win.backward else between
    if win.backward:
        beyond = before is not None and any(k >= before for k in items)
    else:
        beyond = after is not None and any(k <= after for k in items)
    sliced = settle(win, reading[: win.size + 1], beyond=beyond)
    return sliced.items, sliced.has_next_page, sliced.has_previous_page


sorted_keys = st.lists(st.integers(min_value=0, max_value=60), max_size=40, unique=True).map(sorted)
cursor = st.none() | st.integers(min_value=-1, max_value=61)
size = st.integers(min_value=0, max_value=12)


@given(sorted_keys, size, cursor, cursor)
def test_forward_window_follows_the_spec(
    items: Keys, first: int, after: int | None, before: int | None
) -> None:
    assert keyset_page(items, first, after, None, before) == spec_page(
        items, first, after, None, before
    )


@given(sorted_keys, size, cursor, cursor)
def test_backward_window_follows_the_spec(
    items: Keys, last: int, after: int | None, before: int | None
) -> None:
    assert keyset_page(items, None, after, last, before) == spec_page(
        items, None, after, last, before
    )


@given(sorted_keys, st.integers(min_value=1, max_value=7))
def test_paging_forward_and_backward_give_the_same_items(items: Keys, size: int) -> None:
    forward: Keys = []
    after: int | None = None
    while True:
        page, has_next, _ = keyset_page(items, size, after, None, None)
        forward += page
        if not has_next:
            break
        after = page[-1]
    backward: Keys = []
    before: int | None = None
    while True:
        page, _, has_previous = keyset_page(items, None, None, size, before)
        backward = page + backward
        if not has_previous:
            break
        before = page[0]
    assert forward == backward == items


@given(sorted_keys, st.integers(min_value=1, max_value=7), st.data())
def test_a_page_back_from_a_forward_page_is_the_one_before_it(
    items: Keys, size: int, data: st.DataObject
) -> None:
    assume(len(items) > size)
    start = data.draw(st.integers(min_value=0, max_value=len(items) - 1))
    page, _, has_previous = keyset_page(items, size, items[start], None, None)
    assert has_previous  # the cursor's own item is before this page
    if page:
        back, has_next, _ = keyset_page(items, None, None, size, page[0])
        assert has_next
        assert back == items[max(0, start + 1 - size) : start + 1]


def test_no_arguments_is_the_first_default_page() -> None:
    assert window() == Window(size=20, backward=False)
    assert window(before="x") == Window(size=20, backward=True, before="x")
    assert window(first=3, before="x") == Window(size=3, backward=False, before="x")


@pytest.mark.parametrize(
    ("first", "last", "field"),
    [(1, 1, "last"), (0, 0, "last"), (-1, None, "first"), (None, -1, "last")],
)
def test_contradictory_or_negative_sizes_are_refused(
    first: int | None, last: int | None, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        window(first=first, last=last)
    assert caught.value.code == "VALIDATION"
    assert caught.value.details["field"] == field


@pytest.mark.parametrize(
    ("first", "last", "argument"),
    [(MAX_PAGE_SIZE + 1, None, "first"), (None, MAX_PAGE_SIZE + 1, "last")],
)
def test_huge_sizes_are_refused(first: int | None, last: int | None, argument: str) -> None:
    with pytest.raises(PageSizeExceededError) as caught:
        window(first=first, last=last)
    assert caught.value.code == "LIMIT_EXCEEDED"
    assert caught.value.details == {"field": argument, "limit": MAX_PAGE_SIZE}


def test_a_known_total_count_is_returned_without_a_coroutine() -> None:
    # positions know their total (the sum of their groups): nothing to schedule or await.
    page_info = PageInfo(
        has_next_page=False, has_previous_page=False, start_cursor=None, end_cursor=None
    )
    connection: Connection[int] = Connection(edges=[], page_info=page_info, count_total=lambda: 3)
    assert _total_count(connection) == 3
