"""The client's address and scheme behind our proxy: forwarded headers from trusted peers only.

Every request reaches production through Railway's edge, which appends the address it was
connected from to `X-Forwarded-For` and sets `X-Forwarded-Proto` (always https). Whatever a
client put in those headers itself comes before the proxy's entry, so the proxy's entry is
the one counted from the right: with FORWARDED_PROXY_COUNT proxies in front of us, each
appending one entry, the client is the entry that many places from the right. Headers are
read only when the peer is one of FORWARDED_ALLOW_IPS (`*`: any peer, for Railway, whose
edge addresses are not published; elsewhere loopback). The result replaces the ASGI scope's
`client` and `scheme` in place, so rate limits, connection caps, the metrics guard and the
access log all see the same address. uvicorn's own proxy handling is off (`dpo web`): with
`*` it takes the first, client-chosen entry.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SCHEMES = {
    "http": ("http", "ws"),
    "https": ("https", "wss"),
    "ws": ("http", "ws"),
    "wss": ("https", "wss"),
}


def parse_allow_list(values: Iterable[str]) -> tuple[bool, tuple[Network, ...]]:
    """(any peer, networks) from FORWARDED_ALLOW_IPS entries; ValueError on a bad entry."""
    networks: list[Network] = []
    for value in values:
        value = value.strip()
        if value == "*":
            return True, ()
        networks.append(ipaddress.ip_network(value, strict=False))
    return False, tuple(networks)


def ip_of(entry: str) -> str | None:
    """The address of one forwarded entry (`1.2.3.4`, `1.2.3.4:5`, `[::1]:5`, `::1`), or None."""
    entry = entry.strip().strip('"')
    if entry.startswith("["):
        entry = entry[1 : entry.find("]")] if "]" in entry else ""
    elif entry.count(":") == 1:
        entry = entry.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(entry))
    except ValueError:
        return None


def forwarded_client(values: list[str], hops: int) -> str | None:
    """The client address from a forwarded header's values, `hops` proxies appending to it.

    The last entry is the one the nearest proxy wrote; with more proxies each wrote one more
    to its left. Entries further left are the client's own and never read. None when the
    entry is not an address (the peer's own address is then kept).
    """
    entries = [entry for value in values for entry in value.split(",")]
    if not entries:
        return None
    return ip_of(entries[-hops] if len(entries) >= hops else entries[0])


def forwarded_scheme(values: list[str]) -> str | None:
    """The scheme the nearest proxy wrote: the last entry of the last header, if known."""
    if not values:
        return None
    scheme = values[-1].split(",")[-1].strip().lower()
    return scheme if scheme in SCHEMES else None


@dataclass(frozen=True)
class ProxyTrust:
    """Whose forwarded headers count and how many proxies append to them."""

    any_peer: bool
    networks: tuple[Network, ...]
    hops: int = 1
    for_header: bytes = b"x-forwarded-for"

    @classmethod
    def from_settings(cls, allow: Iterable[str], *, hops: int, header: str) -> ProxyTrust:
        """Built from FORWARDED_ALLOW_IPS, FORWARDED_PROXY_COUNT and FORWARDED_FOR_HEADER."""
        any_peer, networks = parse_allow_list(allow)
        return cls(any_peer, networks, hops, header.strip().lower().encode("latin-1"))

    def trusts(self, peer: str) -> bool:
        """Whether this peer's forwarded headers are read."""
        if self.any_peer:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


def apply_proxy_headers(scope: Scope, trust: ProxyTrust) -> None:
    """Set the scope's client and scheme from a trusted proxy's headers, in place."""
    kind = scope["type"]
    peer = scope.get("client")
    if kind in ("http", "websocket") and peer and trust.trusts(str(peer[0])):
        addresses: list[str] = []
        schemes: list[str] = []
        for name, value in scope.get("headers", ()):
            if name == trust.for_header:
                addresses.append(bytes(value).decode("latin-1"))
            elif name == b"x-forwarded-proto":
                schemes.append(bytes(value).decode("latin-1"))
        client = forwarded_client(addresses, trust.hops)
        if client is not None:
            scope["client"] = (client, 0)
        scheme = forwarded_scheme(schemes)
        if scheme is not None:
            http, ws = SCHEMES[scheme]
            scope["scheme"] = ws if kind == "websocket" else http
