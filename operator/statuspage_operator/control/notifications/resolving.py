"""Resolving under the egress policy: the addresses checked are the addresses connected to.

Checking a name and then letting a client resolve it again leaves a gap a DNS server can use
(rebinding: public for the check, 169.254.169.254 for the connect). So the check is the
resolution itself:

- webhooks (aiohttp): `GuardedResolver` is the connector's resolver; it returns only checked
  addresses, and aiohttp connects to what its resolver returned. aiohttp does not ask its
  resolver about an address literal: `Channels` checks the URL's host with `check_name` first.
- Apprise's clients (requests, smtplib) resolve with `socket.getaddrinfo` at the moment they
  connect, redirects included. `pinned()` makes every resolution in the current context go
  through the policy, by a wrapper installed once over `socket.getaddrinfo` that does nothing
  outside it. A context variable, not a thread-local: Apprise sends from its own worker threads,
  with a copy of the caller's context.

A name the policy did not allow by name is looked up as an absolute name (a trailing dot), so the
cluster's search domains never complete it into a Service.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult

from statuspage_operator.control.notifications.egress import EgressPolicy, RefusedError, is_literal

Answer = tuple[Any, ...]
# (host, port, family) -> getaddrinfo's answers; the real one by default, a fake in tests.
Lookup = Callable[[str, int, int], Awaitable[list[Answer]]]
SyncLookup = Callable[..., list[Answer]]


def absolute(policy: EgressPolicy, host: str) -> str:
    """The name to look up: as given when allowed by name (search domains may complete it) or
    an address literal, else absolute."""
    if policy.allows_host(host) or host.endswith(".") or is_literal(host):
        return host
    return host + "."


async def _system_lookup(host: str, port: int, family: int) -> list[Answer]:
    loop = asyncio.get_running_loop()
    return await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver under the policy: a refused name or address raises RefusedError."""

    def __init__(self, policy: EgressPolicy, lookup: Lookup | None = None) -> None:
        self.policy = policy
        self.lookup = lookup or _system_lookup

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Only checked addresses; RefusedError if the name or any of its addresses is refused."""
        self.policy.check_name(host)
        answers = await self.lookup(absolute(self.policy, host), port, family)
        self.policy.check_resolved(host, [str(a[4][0]) for a in answers])
        return [
            ResolveResult(
                hostname=host,
                host=str(a[4][0]),
                port=int(a[4][1]),
                family=a[0],
                proto=a[2],
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for a in answers
        ]

    async def close(self) -> None:
        """Nothing to release."""


@dataclass(slots=True)
class Pin:
    """One pinning: the policy, how it looks names up, and the last refusal."""

    policy: EgressPolicy
    lookup: SyncLookup
    refused: RefusedError | None = None


_pin: ContextVar[Pin | None] = ContextVar("egress_pin", default=None)
_original: SyncLookup = socket.getaddrinfo
_install = threading.Lock()


def _guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Answer]:
    pin = _pin.get()
    if pin is None:
        return _original(host, port, *args, **kwargs)
    name = host.decode() if isinstance(host, bytes) else str(host or "")
    try:
        pin.policy.check_name(name)
        answers = pin.lookup(absolute(pin.policy, name), port, *args, **kwargs)
        pin.policy.check_resolved(name, [str(a[4][0]) for a in answers])
    except RefusedError as refused:
        pin.refused = refused
        raise
    return answers


def _installed() -> None:
    with _install:
        if socket.getaddrinfo is not _guarded_getaddrinfo:
            socket.getaddrinfo = _guarded_getaddrinfo


@contextmanager
def pinned(policy: EgressPolicy, lookup: SyncLookup | None = None) -> Iterator[Pin]:
    """While inside, every `socket.getaddrinfo` of this context (and of threads given a copy of
    it) resolves under the policy."""
    _installed()
    pin = Pin(policy, lookup or _original)
    token = _pin.set(pin)
    try:
        yield pin
    finally:
        _pin.reset(token)
