"""Pure rules: forwarded headers, strict Host parsing, channel names, the settings they use."""

from __future__ import annotations

import pytest

from app.http.forwarded import ProxyTrust, forwarded_client, forwarded_scheme, ip_of
from app.http.security import host_allowed, parse_host
from dpo.channels import Channels, channels_for, channels_of, redis_db
from dpo.settings import Settings


@pytest.mark.parametrize(
    ("values", "hops", "client"),
    [
        (["6.6.6.6, 203.0.113.9"], 1, "203.0.113.9"),  # the client's own entry is never read
        (["6.6.6.6", "203.0.113.9"], 1, "203.0.113.9"),  # two header lines, in order
        (["6.6.6.6, 203.0.113.9, 10.0.0.2"], 2, "203.0.113.9"),  # two proxies
        (["203.0.113.9"], 3, "203.0.113.9"),  # fewer entries than proxies: the first
        (["203.0.113.9:5123"], 1, "203.0.113.9"),
        (["[2001:db8::1]:443"], 1, "2001:db8::1"),
        (["2001:db8::1"], 1, "2001:db8::1"),
        (["6.6.6.6, not-an-address"], 1, None),  # keep the peer's address
        (["6.6.6.6, "], 1, None),
        ([], 1, None),
    ],
)
def test_the_client_is_counted_from_the_right(
    values: list[str], hops: int, client: str | None
) -> None:
    assert forwarded_client(values, hops) == client


def test_entries_are_addresses_only() -> None:
    assert ip_of(" 192.0.2.1 ") == "192.0.2.1"
    assert ip_of('"[::1]"') == "::1"
    for hostile in ("", "evil.example", "1.2.3.4.5", "[::1", "x" * 300, "1.2.3.4:5:6"):
        assert ip_of(hostile) is None


def test_the_scheme_is_the_nearest_proxys() -> None:
    assert forwarded_scheme(["https"]) == "https"
    assert forwarded_scheme(["https, http"]) == "http"
    assert forwarded_scheme(["http", "HTTPS"]) == "https"
    assert forwarded_scheme(["gopher"]) is None
    assert forwarded_scheme([]) is None


def test_trust_by_peer() -> None:
    local = ProxyTrust.from_settings(["127.0.0.1", "10.0.0.0/8"], hops=1, header="X-Forwarded-For")
    assert local.trusts("127.0.0.1")
    assert local.trusts("10.1.2.3")
    assert not local.trusts("192.0.2.1")
    assert not local.trusts("not-an-ip")
    assert ProxyTrust.from_settings(["*"], hops=1, header="X-Real-IP").trusts("192.0.2.1")
    assert ProxyTrust.from_settings(["*"], hops=1, header="X-Real-IP").for_header == b"x-real-ip"


def test_trusted_proxies_by_environment() -> None:
    assert Settings.model_validate({}).trusted_proxies == ["127.0.0.1", "::1"]
    production = Settings.model_validate({"ENVIRONMENT": "production"})
    assert production.trusted_proxies == ["*"]
    chosen = Settings.model_validate(
        {"ENVIRONMENT": "production", "FORWARDED_ALLOW_IPS": "10.0.0.0/8, 127.0.0.1"}
    )
    assert chosen.trusted_proxies == ["10.0.0.0/8", "127.0.0.1"]
    with pytest.raises(ValueError, match="not an IP"):
        Settings.model_validate({"FORWARDED_ALLOW_IPS": "proxy.internal"})


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:8113@evil.example",
        "user@example.com",
        "example.com/path",
        "example.com?x",
        "exa mple.com",
        "example.com:",
        "example.com:0",
        "example.com:65536",
        "[::1",
        "[zz]",
        "::1",
        "-example.com",
        "example-.com",
        "a..b",
        "é.example",
        "x" * 64 + ".com",
        "",
        " ",
        "example.com:80:80",
        "example.com\r\nX: y",
    ],
)
def test_hosts_that_are_not_host_port_are_refused(host: str) -> None:
    assert parse_host(host) is None
    assert not host_allowed(host, ["*"])


def test_valid_hosts_parse() -> None:
    assert parse_host("API.Example.com.:8443") == ("api.example.com", 8443)
    assert parse_host("[2001:DB8::1]") == ("[2001:db8::1]", None)
    assert parse_host("127.0.0.1:8113") == ("127.0.0.1", 8113)
    assert host_allowed("dpo-web.up.railway.app", [".railway.app"])


def test_channel_names_carry_the_database_and_prefix() -> None:
    assert redis_db("redis://h:6379/3") == 3
    assert redis_db("rediss://u:p@h:6379?db=5") == 5
    assert redis_db("redis://h:6379") == 0
    assert channels_for("redis://h/0").all == ("dpo:0:feed", "dpo:0:invalidate", "dpo:0:breaks")
    assert channels_for("redis://h/1", "staging").breaks == "staging:1:breaks"
    assert channels_for("redis://h/1", "staging").feed == "staging:1:feed"
    assert channels_for("redis://h/1").all != channels_for("redis://h/2").all
    with pytest.raises(ValueError, match="prefix"):
        channels_for("redis://h/0", "bad prefix")

    class Pool:
        connection_kwargs = {"db": 7}

    class Client:
        connection_pool = Pool()

    assert channels_of(Client()) == Channels(db=7)
    assert channels_of(Client(), "x").invalidate == "x:7:invalidate"
