"""Where deliveries may go: the egress policy over destination names and addresses.

A Subscriber's URL is written by whoever may edit Secrets in its namespace; the operator sends
from inside the cluster, with the cluster's routes and DNS. So a destination is refused when its
name is the cluster's own (`*.svc`, `*.svc.<cluster domain>`, `localhost`, a name without a dot
that the cluster's search domains would complete), or when any address it resolves to is
loopback, link-local, private (RFC 1918, 100.64/10, fc00::/7), multicast, unspecified or
reserved, or lies in a range the administrator denies (`--egress-deny`, for the cluster's service
and pod ranges, which cannot be discovered). An IPv6 address that embeds an IPv4 one (mapped,
6to4, NAT64) is judged by the IPv4 address too. `--egress-allow` names a CIDR or a host that is
allowed all the same (an in-cluster receiver people do want); allowing wins over every refusal.

The policy is pure: resolving is resolving.py's, and this module only judges what it is given.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

CLUSTER_DOMAIN = "cluster.local"
REFUSED = "refused by policy"

_PRIVATE: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class RefusedError(OSError):
    """A destination the egress policy refuses; `rule` says which rule (never the host)."""

    def __init__(self, rule: str) -> None:
        super().__init__(f"{REFUSED} ({rule})")
        self.rule = rule


def _host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(_host(host).split("%", 1)[0])
    except ValueError:
        return None


def is_literal(host: str) -> bool:
    """Whether a host is an address, not a name."""
    return _address(host) is not None


def _embedded(address: Address) -> Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _rule_of(address: Address) -> str | None:
    """Which built-in rule refuses an address, or None for a public one."""
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified:
        return "unspecified"
    if any(address in network for network in _PRIVATE if network.version == address.version):
        return "private"
    if address.is_reserved or address.is_private or not address.is_global:
        return "reserved"
    return None


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """The egress rules: the built-in refusals, the denied ranges, and what is allowed anyway."""

    allow_networks: tuple[Network, ...] = ()
    allow_hosts: frozenset[str] = frozenset()
    deny_networks: tuple[Network, ...] = ()
    cluster_domain: str = CLUSTER_DOMAIN

    @classmethod
    def parse(
        cls,
        allow: Iterable[str] = (),
        deny: Iterable[str] = (),
        cluster_domain: str = CLUSTER_DOMAIN,
    ) -> EgressPolicy:
        """The policy of the command line; ValueError naming a CIDR that does not parse."""
        networks: list[Network] = []
        hosts: set[str] = set()
        for item in allow:
            if "/" in item or _address(item) is not None:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            elif _host(item):
                hosts.add(_host(item))
        denied = tuple(ipaddress.ip_network(item, strict=False) for item in deny)
        return cls(tuple(networks), frozenset(hosts), denied, _host(cluster_domain))

    def allows_host(self, host: str) -> bool:
        """Whether the administrator allowed this host by name (then its addresses are trusted)."""
        return _host(host) in self.allow_hosts

    def check_name(self, host: str) -> None:
        """RefusedError for a name (or an address literal) that may never be sent to."""
        name = _host(host)
        if name in self.allow_hosts:
            return
        address = _address(name)
        if address is not None:
            self.check_address(address)
            return
        if not name:
            raise RefusedError("no host")
        if name == "localhost" or name.endswith(".localhost"):
            raise RefusedError("local name")
        cluster = self.cluster_domain
        if name == cluster or name.endswith((".svc", f".svc.{cluster}", f".{cluster}")):
            raise RefusedError("cluster name")
        if "." not in name:
            # The cluster's search domains would make `kubernetes` the API server's Service.
            raise RefusedError("cluster name")

    def check_address(self, address: Address | str) -> None:
        """RefusedError for an address that may not be connected to."""
        if isinstance(address, str):
            parsed = _address(address)
            if parsed is None:
                raise RefusedError("not an address")
            address = parsed
        # The embedded IPv4 address first: its rule is the one that says what was meant.
        inner = _embedded(address)
        judged = [address] if inner is None else [inner, address]
        if any(a in n for a in judged for n in self.allow_networks if n.version == a.version):
            return
        for each in judged:
            if any(each in n for n in self.deny_networks if n.version == each.version):
                raise RefusedError("denied range")
            rule = _rule_of(each)
            if rule is not None:
                raise RefusedError(rule)

    def check_resolved(self, host: str, addresses: Iterable[Address | str]) -> None:
        """RefusedError unless every address a name resolved to may be connected to (a name that
        resolves to a refused address among public ones is how DNS rebinding starts)."""
        if self.allows_host(host):
            return
        found = list(addresses)
        if not found:
            raise RefusedError("no address")
        for address in found:
            self.check_address(address)
