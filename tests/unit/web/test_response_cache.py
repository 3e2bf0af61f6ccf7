"""The response cache's bookkeeping: generations, maximum age, size caps (a fake clock)."""

from __future__ import annotations

from app.graphql.cache import request_key
from app.graphql.response_cache import ResponseCache

JSON = [(b"content-type", b"application/json")]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def cache(clock: Clock | None = None, **caps: int) -> ResponseCache:
    store = ResponseCache(
        max_age=2.0,
        max_entries=caps.get("entries", 100),
        max_bytes=caps.get("bytes", 1_000_000),
        clock=clock or Clock(),
    )
    store.healthy = True
    return store


def put(store: ResponseCache, key: str, body: bytes) -> bool:
    return store.put(key, store.begin(), status=200, headers=(), body=body) is not None


def test_an_answer_is_served_until_the_generation_moves() -> None:
    store = cache()
    assert put(store, "k", b"answer")
    entry = store.get("k")
    assert entry is not None
    assert entry.body == b"answer"
    store.invalidate("local")
    assert store.get("k") is None
    assert len(store) == 0


def test_an_answer_executed_across_a_write_is_not_stored() -> None:
    store = cache()
    ticket = store.begin()
    store.invalidate("remote")  # a write committed while the query ran
    assert store.put("k", ticket, status=200, headers=(), body=b"old") is None
    assert store.get("k") is None


def test_the_maximum_age_counts_from_the_start_of_execution() -> None:
    clock = Clock()
    store = cache(clock)
    ticket = store.begin()
    clock.now += 1.5  # a slow execution
    store.put("k", ticket, status=200, headers=(), body=b"x")
    clock.now += 0.4
    assert store.get("k") is not None
    clock.now += 0.2  # 2.1 s after the data was read
    assert store.get("k") is None


def test_nothing_is_served_or_stored_while_unsubscribed() -> None:
    store = cache()
    put(store, "k", b"x")
    store.healthy = False
    assert store.get("k") is None
    assert not put(store, "j", b"y")


def test_least_recently_used_answers_go_first_when_over_a_cap() -> None:
    store = cache(entries=2)
    put(store, "a", b"1")
    put(store, "b", b"2")
    assert store.get("a") is not None  # b is now the least recently used
    put(store, "c", b"3")
    assert [k for k in "abc" if store.get(k) is not None] == ["a", "c"]

    small = cache(bytes=4096)
    for name in "abcd":
        assert put(small, name, b"x" * 1000)
    put(small, "e", b"x" * 1000)
    assert small.get("a") is None
    assert small.get("e") is not None
    assert not put(small, "huge", b"x" * 2000)  # over a quarter of the budget


async def test_identical_requests_wait_for_the_one_running() -> None:
    store = cache()
    ticket = store.begin()
    flight = store.lead("k", ticket)
    assert store.join("k") is flight
    assert store.join("other") is None
    entry = store.put("k", ticket, status=200, headers=(), body=b"x")
    store.land("k", flight, entry)
    assert await flight is entry
    assert store.join("k") is None  # landed: the next one finds the stored answer


async def test_nobody_joins_an_execution_that_a_write_overtook() -> None:
    store = cache()
    ticket = store.begin()
    flight = store.lead("k", ticket)
    store.invalidate("local")
    assert store.join("k") is None
    store.land("k", flight, store.put("k", ticket, status=200, headers=(), body=b"old"))
    assert await flight is None  # those who joined before the write run it themselves


def scope(
    method: str,
    content_type: bytes = b"application/json",
    query: bytes = b"",
    accept: bytes = b"*/*",
) -> dict[str, object]:
    return {
        "type": "http",
        "method": method,
        "query_string": query,
        "headers": [(b"content-type", content_type), (b"accept", accept)],
    }


def test_the_key_ignores_spelling_but_not_meaning() -> None:
    one = request_key(scope("POST"), b'{"query": "{ a }", "variables": {"x": 1, "y": 2}}')
    same = request_key(scope("POST"), b'{"variables": {"y": 2, "x": 1}, "query": "{ a }"}')
    other = request_key(scope("POST"), b'{"query": "{ a }", "variables": {"x": 2, "y": 2}}')
    named = request_key(
        scope("POST"), b'{"query": "{ a }", "operationName": "A", "variables": {"x": 1, "y": 2}}'
    )
    got = request_key(
        scope("GET", query=b"query=%7B%20a%20%7D&variables=%7B%22x%22%3A1%2C%22y%22%3A2%7D"), b""
    )
    assert one is not None
    assert one == same == got
    assert len({one, other, named}) == 3


def test_requests_that_are_not_one_plain_query_have_no_key() -> None:
    assert request_key(scope("POST"), b'[{"query": "{ a }"}]') is None  # a batch
    assert request_key(scope("POST"), b"{not json") is None
    assert request_key(scope("POST"), b'{"query": 1}') is None
    assert request_key(scope("POST"), b'{"query": "{ a }", "extensions": {"n": 1}}') is None
    assert request_key(scope("POST", b"text/plain"), b'{"query": "{ a }"}') is None
    assert request_key(scope("GET", accept=b"text/html"), b"") is None
    assert request_key(scope("POST", accept=b"multipart/mixed"), b'{"query": "{ a }"}') is None
    assert request_key(scope("PUT"), b'{"query": "{ a }"}') is None


def test_the_client_name_extension_is_not_part_of_the_key() -> None:
    plain = request_key(scope("POST"), b'{"query": "{ a }"}')
    apollo = request_key(
        scope("POST", accept=b"application/graphql-response+json,application/json;q=0.9"),
        b'{"query": "{ a }", "extensions": {"clientLibrary": '
        b'{"name": "@apollo/client", "version": "4.3.8"}}}',
    )
    urql = request_key(
        scope(
            "POST",
            accept=b"application/graphql-response+json, "
            b"application/graphql+json, application/json, "
            b"text/event-stream, multipart/mixed",
        ),
        b'{"query": "{ a }"}',
    )
    assert plain is not None
    assert plain == apollo == urql
    persisted = b'{"query": "{ a }", "extensions": {"clientLibrary": {}, "persistedQuery": {}}}'
    assert request_key(scope("POST"), persisted) is None  # may change what runs


def test_extensions_of_the_wrong_type_have_no_key() -> None:
    # Looked up, they would be answered from the cache without the view's 400.
    for extensions in (b"0", b"false", b'"x"', b"[]", b"[1]"):
        assert (
            request_key(scope("POST"), b'{"query": "{ a }", "extensions": ' + extensions + b"}")
            is None
        )
    assert request_key(scope("GET", query=b"query=%7B%20a%20%7D&extensions=0"), b"") is None
    assert request_key(scope("POST", accept=b"text/event-stream"), b'{"query": "{ a }"}') is None
