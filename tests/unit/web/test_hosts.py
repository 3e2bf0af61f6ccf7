"""Pure rules of the middleware: host matching, request ids, client addresses."""

from __future__ import annotations

import pytest

from app.http.middleware import sane_request_id
from app.http.ratelimit import client_address
from app.http.security import effective_allowed_hosts, host_allowed, split_host


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("api.railway.app", True),
        ("a.b.railway.app", True),
        ("railway.app", True),
        ("RAILWAY.APP:443", True),
        ("railway.app.", True),
        ("evilrailway.app", False),
        ("railway.app.evil.com", False),
        ("example.com", True),
        ("www.example.com", False),
        ("", False),
    ],
)
def test_django_host_rules(host: str, allowed: bool) -> None:
    assert host_allowed(host, [".railway.app", "example.com"]) is allowed


def test_star_allows_any_and_empty_list_none() -> None:
    assert host_allowed("anything.test:1", ["*"])
    assert not host_allowed("localhost", [])


def test_split_host_handles_ports_and_ipv6() -> None:
    assert split_host("Example.COM:8000") == "example.com"
    assert split_host("[::1]:8000") == "[::1]"
    assert split_host("127.0.0.1") == "127.0.0.1"


def test_empty_allowed_hosts_by_environment() -> None:
    local = effective_allowed_hosts([], debug=False, production=False)
    assert host_allowed("localhost:8000", local)
    assert host_allowed("127.0.0.1", local)
    assert not host_allowed("example.com", local)
    assert effective_allowed_hosts([], debug=False, production=True) == []
    assert effective_allowed_hosts([], debug=True, production=True) == local
    assert effective_allowed_hosts(["a.test"], debug=True, production=False) == ["a.test"]


def test_request_ids_are_kept_only_when_plain() -> None:
    assert sane_request_id("req-1.2:3_x") == "req-1.2:3_x"
    for hostile in (None, "", "a b", "x" * 129, "id\nforged log line", "é"):
        made = sane_request_id(hostile)
        assert made != hostile
        assert len(made) == 32


def _scope(client: str, forwarded: str | None) -> dict[str, object]:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"type": "http", "client": (client, 1234), "headers": headers}


def test_client_address_trusts_forwarded_only_behind_the_proxy() -> None:
    scope = _scope("10.0.0.2", "6.6.6.6, 203.0.113.9")
    assert client_address(scope, trust_forwarded=True) == "203.0.113.9"
    assert client_address(scope, trust_forwarded=False) == "10.0.0.2"
    assert client_address(_scope("10.0.0.2", None), trust_forwarded=True) == "10.0.0.2"
