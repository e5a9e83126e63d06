"""The egress policy and resolution under it, with a fake resolver: no packet ever goes to a
refused address (only loopback receivers that the test's policy allows are really connected to)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import requests

from statuspage_operator.control.notifications.egress import (
    EgressPolicy,
    RefusedError,
    is_literal,
)
from statuspage_operator.control.notifications.resolving import GuardedResolver, pinned

DEFAULT = EgressPolicy()


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        pytest.param("127.0.0.1", "loopback", id="loopback"),
        pytest.param("::1", "loopback", id="loopback-v6"),
        pytest.param("169.254.169.254", "link-local", id="metadata"),
        pytest.param("fe80::1", "link-local", id="link-local-v6"),
        pytest.param("10.96.0.1", "private", id="rfc1918-10"),
        pytest.param("172.16.0.1", "private", id="rfc1918-172"),
        pytest.param("192.168.1.1", "private", id="rfc1918-192"),
        pytest.param("100.64.0.1", "private", id="cgnat"),
        pytest.param("fd00::1", "private", id="ula"),
        pytest.param("224.0.0.1", "multicast", id="multicast"),
        pytest.param("ff02::1", "multicast", id="multicast-v6"),
        pytest.param("0.0.0.0", "unspecified", id="unspecified"),
        pytest.param("::", "unspecified", id="unspecified-v6"),
        pytest.param("240.0.0.1", "reserved", id="reserved"),
        pytest.param("::ffff:169.254.169.254", "link-local", id="mapped-metadata"),
        pytest.param("::ffff:10.0.0.1", "private", id="mapped-private"),
        pytest.param("2002:a9fe:a9fe::", "link-local", id="6to4-metadata"),
        pytest.param("64:ff9b::a9fe:a9fe", "link-local", id="nat64-metadata"),
    ],
)
def test_internal_addresses_are_refused_by_their_rule(address: str, rule: str) -> None:
    """Every internal address, IPv4-in-IPv6 forms included, is refused, naming its rule."""
    with pytest.raises(RefusedError) as refused:
        DEFAULT.check_address(address)
    assert refused.value.rule == rule
    assert str(refused.value) == f"refused by policy ({rule})"


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1::1"])
def test_public_addresses_pass(address: str) -> None:
    """A public address may be connected to."""
    DEFAULT.check_address(address)


@pytest.mark.parametrize(
    ("host", "rule"),
    [
        pytest.param("kubernetes.default.svc", "cluster name", id="svc"),
        pytest.param("hook.team-a.svc.cluster.local", "cluster name", id="svc-fqdn"),
        pytest.param("hook.team-a.svc.cluster.local.", "cluster name", id="svc-absolute"),
        pytest.param("pod.cluster.local", "cluster name", id="cluster-domain"),
        pytest.param("kubernetes", "cluster name", id="search-domains"),
        pytest.param("localhost", "local name", id="localhost"),
        pytest.param("api.localhost", "local name", id="dot-localhost"),
        pytest.param("169.254.169.254", "link-local", id="literal"),
        pytest.param("[::1]", "loopback", id="literal-v6"),
        pytest.param("", "no host", id="empty"),
    ],
)
def test_cluster_and_local_names_are_refused_without_resolving(host: str, rule: str) -> None:
    """Names the cluster's DNS would answer are refused by name."""
    with pytest.raises(RefusedError) as refused:
        DEFAULT.check_name(host)
    assert refused.value.rule == rule


def test_the_cluster_domain_is_configurable() -> None:
    """With another cluster domain, names under it are refused, cluster.local is just a name."""
    policy = EgressPolicy.parse(cluster_domain="corp.internal")
    with pytest.raises(RefusedError):
        policy.check_name("hook.team-a.svc.corp.internal")
    with pytest.raises(RefusedError):
        policy.check_name("db.corp.internal")
    policy.check_name("hooks.example.com")


def test_denied_ranges_are_refused_and_allowed_ones_win() -> None:
    """--egress-deny refuses a public range; --egress-allow wins over every refusal."""
    policy = EgressPolicy.parse(
        allow=["127.0.0.0/8", "::1", "203.0.113.7/32"], deny=["198.51.0.0/16", "203.0.113.0/24"]
    )
    with pytest.raises(RefusedError) as refused:
        policy.check_address("198.51.7.7")
    assert refused.value.rule == "denied range"
    for allowed in ("127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1", "203.0.113.7"):
        policy.check_address(allowed)
    with pytest.raises(RefusedError):
        policy.check_address("10.0.0.1")


def test_an_allowed_host_is_trusted_with_its_addresses() -> None:
    """--egress-allow hook.monitoring.svc: that name, whatever it resolves to; no other."""
    policy = EgressPolicy.parse(allow=["Hook.Monitoring.svc."])
    policy.check_name("hook.monitoring.svc")
    policy.check_resolved("hook.monitoring.svc", ["10.96.3.4"])
    with pytest.raises(RefusedError):
        policy.check_name("other.monitoring.svc")


def test_a_bad_cidr_does_not_parse() -> None:
    """A typo in a flag stops the operator rather than allowing or denying nothing."""
    with pytest.raises(ValueError, match=r"10\.0\.0\.300"):
        EgressPolicy.parse(deny=["10.0.0.300/8"])


class FakeDNS:
    """Answers from a table (an address literal as itself, as getaddrinfo does), records every
    question; never touches the network."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    def answers(self, host: str, port: int) -> list[tuple[Any, ...]]:
        self.asked.append(host)
        if is_literal(host):
            return self._answers([host.strip("[]")], port)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self._answers(self.table[host], port)

    @staticmethod
    def _answers(addresses: list[str], port: int) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    def lookup(self) -> Callable[[str, int, int], Awaitable[list[tuple[Any, ...]]]]:
        async def lookup(host: str, port: int, family: int) -> list[tuple[Any, ...]]:
            return self.answers(host, port)

        return lookup

    def sync(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        return self.answers(str(host), int(port or 0))


DNS = {
    "hooks.example.com.": ["93.184.216.34"],
    "rebind.example.com.": ["93.184.216.34", "10.0.0.7"],
    "metadata.example.com.": ["169.254.169.254"],
    "v6.example.com.": ["fd00::7"],
}


@pytest.mark.parametrize(
    ("host", "rule"),
    [
        pytest.param("rebind.example.com", "private", id="rebinding-name"),
        pytest.param("metadata.example.com", "link-local", id="name-to-link-local"),
        pytest.param("v6.example.com", "private", id="name-to-ula"),
    ],
)
def test_the_resolver_refuses_a_name_that_resolves_inside(host: str, rule: str) -> None:
    """aiohttp's resolver under the policy: any refused address refuses the name."""
    dns = FakeDNS(DNS)
    with pytest.raises(RefusedError) as refused:
        asyncio.run(GuardedResolver(DEFAULT, dns.lookup()).resolve(host, 443))
    assert refused.value.rule == rule
    assert dns.asked == [f"{host}."]


def test_the_resolver_returns_only_checked_addresses() -> None:
    """A public name resolves (absolutely, past the search domains) to what was checked."""
    dns = FakeDNS(DNS)
    resolver = GuardedResolver(DEFAULT, dns.lookup())
    results = asyncio.run(resolver.resolve("hooks.example.com", 443))
    assert [(r["hostname"], r["host"], r["port"]) for r in results] == [
        ("hooks.example.com", "93.184.216.34", 443)
    ]
    assert dns.asked == ["hooks.example.com."]


def test_the_resolver_never_looks_up_a_cluster_name() -> None:
    """*.svc is refused before any question to DNS."""
    dns = FakeDNS(DNS)
    with pytest.raises(RefusedError):
        asyncio.run(GuardedResolver(DEFAULT, dns.lookup()).resolve("kubernetes.default.svc", 443))
    assert dns.asked == []


def test_an_allowed_host_is_looked_up_as_written() -> None:
    """An allowed in-cluster name keeps the search domains it needs."""
    dns = FakeDNS({"hook.monitoring.svc": ["10.96.3.4"]})
    policy = EgressPolicy.parse(allow=["hook.monitoring.svc"])
    resolver = GuardedResolver(policy, dns.lookup())
    results = asyncio.run(resolver.resolve("hook.monitoring.svc", 80))
    assert [r["host"] for r in results] == ["10.96.3.4"]


def test_a_pinned_thread_resolves_under_the_policy_and_others_do_not() -> None:
    """Inside `pinned`, socket.getaddrinfo (what requests and smtplib use) is the guard."""
    dns = FakeDNS(DNS)
    with pinned(DEFAULT, dns.sync) as pin:
        with pytest.raises(RefusedError):
            socket.getaddrinfo("rebind.example.com", 443)
        assert pin.refused is not None
        assert pin.refused.rule == "private"
        answers = socket.getaddrinfo("hooks.example.com", 443)
        assert [a[4][0] for a in answers] == ["93.184.216.34"]
    assert dns.asked == ["rebind.example.com.", "hooks.example.com."]
    # Outside: the system's own resolver, for a literal that needs no DNS.
    assert socket.getaddrinfo("127.0.0.1", 80)[0][4][0] == "127.0.0.1"


def test_requests_in_a_pinned_thread_never_connect_to_a_refused_address() -> None:
    """requests (Apprise's client) fails before connecting: the literal is refused by name."""
    dns = FakeDNS(DNS)
    with pinned(DEFAULT, dns.sync) as pin, pytest.raises(requests.ConnectionError):
        requests.get("http://169.254.169.254/latest/meta-data/", timeout=1)
    assert pin.refused is not None
    assert pin.refused.rule == "link-local"
    assert dns.asked == []
