"""Trusted proxies: what a request's headers may say, depending on who sent it.

The server sits behind an ingress or proxy (docs/server.md, "Private pages"). Only a TCP peer in
one of the configured proxy networks (`--trusted-proxy`) may tell who the client is, with its
identity headers (`--user-header`, `--groups-header`). From any other peer those headers are
ignored, so a forged identity gets what an anonymous request gets.

Nothing here knows aiohttp: it takes the peer address and a header mapping. The page server
reads no client address from headers (nothing it does depends on one); `statuspage-signup` limits
sign-ups per client, with `Trust.client`: the peer, or, from a trusted proxy, the right-most
`X-Forwarded-For` entry that is not itself a trusted proxy (what the first trusted hop saw;
whatever a client writes to the left of it is ignored).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from statuspage_operator.domain.audience import ANONYMOUS, Identity

DEFAULT_USER_HEADER = "X-Forwarded-User"
DEFAULT_GROUPS_HEADER = "X-Forwarded-Groups"
FORWARDED_FOR = "X-Forwarded-For"
MAX_FORWARDED = 32  # hops read from the right of X-Forwarded-For, at most
MAX_NAME = 256
MAX_GROUPS = 64

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """`10.0.0.0/8`, `127.0.0.2/32`, `::1/128` (a bare address is one host); ValueError if not."""
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


@dataclass(frozen=True, slots=True)
class Trust:
    """Which peers are trusted proxies, and the headers they name the client with."""

    proxies: tuple[Network, ...] = ()
    user_header: str = DEFAULT_USER_HEADER
    groups_header: str = DEFAULT_GROUPS_HEADER

    @classmethod
    def of(
        cls,
        cidrs: Iterable[str],
        user_header: str = DEFAULT_USER_HEADER,
        groups_header: str = DEFAULT_GROUPS_HEADER,
    ) -> Trust:
        """From the server's flags."""
        return cls(parse_networks(cidrs), user_header, groups_header)

    def trusts(self, peer: str | None) -> bool:
        """Whether the TCP peer is a trusted proxy."""
        if peer is None or not self.proxies:
            return False
        address = _address(peer)
        return address is not None and any(address in network for network in self.proxies)

    def identity(self, peer: str | None, headers: Mapping[str, str]) -> Identity:
        """Who the client is, as a trusted proxy says; anonymous from anyone else."""
        if not self.trusts(peer):
            return ANONYMOUS
        user = headers.get(self.user_header, "").strip()
        groups = [g.strip() for g in headers.get(self.groups_header, "").split(",")]
        kept = frozenset(g for g in groups[:MAX_GROUPS] if g and len(g) <= MAX_NAME)
        return Identity(user if user and len(user) <= MAX_NAME else None, kept)

    def client(self, peer: str | None, forwarded_for: Iterable[str] = ()) -> str:
        """The client's address: the peer, or from a trusted proxy the right-most entry of
        `X-Forwarded-For` (every header line, in order) that is not a trusted proxy; the
        left-most one when all are. "" when the peer is unknown."""
        if not self.trusts(peer):
            return _canonical(peer or "")
        hops = [hop.strip() for line in forwarded_for for hop in line.split(",")]
        hops = [hop for hop in hops if hop][-MAX_FORWARDED:]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return _canonical(hop)
        return _canonical(hops[0]) if hops else _canonical(peer or "")


def _canonical(text: str) -> str:
    """An address in one spelling (IPv4-mapped as IPv4); anything else as given, bounded."""
    address = _address(text)
    return str(address) if address is not None else text.strip()[:64]
