"""What went wrong with one attempt, as far as anyone may be told: a category.

The far end's body, reason phrase and address, and the client's own error text (which names
hosts), never leave the attempt: status, Events and logs get a `Failure`. A refusal by the egress
policy is recognised by its exception (egress.RefusedError), wherever the client wrapped it, never
inferred from a failed lookup.
"""

from __future__ import annotations

import errno
import re
import ssl
from collections.abc import Iterator
from enum import StrEnum

import aiohttp

from statuspage_operator.control.notifications.egress import REFUSED, RefusedError


class Failure(StrEnum):
    """What went wrong with one attempt, as far as anyone may be told."""

    REFUSED = REFUSED
    DNS = "DNS: the name does not resolve"
    CONNECTION_REFUSED = "connection refused"
    TIMEOUT = "timeout"
    TLS = "TLS error"
    REDIRECT = "3xx: redirects are not followed"
    CLIENT = "4xx"
    SERVER = "5xx"
    FAILED = "connection failed"


class SendError(Exception):
    """One attempt failed; the message is its category."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(str(failure))
        self.failure = failure


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and what caused it (`__cause__`, or aiohttp's `os_error`), each once."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        os_error = getattr(current, "os_error", None)
        current = current.__cause__ or (os_error if isinstance(os_error, BaseException) else None)


def failure_of(error: BaseException) -> Failure:
    """The category of a client error."""
    chain = list(_chain(error))
    if any(isinstance(e, RefusedError) for e in chain):
        return Failure.REFUSED
    if any(isinstance(e, aiohttp.ClientConnectorDNSError) for e in chain):
        return Failure.DNS
    if any(isinstance(e, aiohttp.ClientSSLError | ssl.SSLError) for e in chain):
        return Failure.TLS
    if any(
        isinstance(e, ConnectionRefusedError)
        or (isinstance(e, OSError) and e.errno == errno.ECONNREFUSED)
        for e in chain
    ):
        return Failure.CONNECTION_REFUSED
    if any(isinstance(e, TimeoutError | aiohttp.ServerTimeoutError) for e in chain):
        return Failure.TIMEOUT
    return Failure.FAILED


def failure_of_status(status: int) -> Failure | None:
    """The category of an HTTP status, None for a success."""
    if status < 300:
        return None
    if status < 400:
        return Failure.REDIRECT
    return Failure.CLIENT if status < 500 else Failure.SERVER


_STATUS = re.compile(r"\berror=([1-5])\d\d\b")


def failure_of_apprise(lines: list[str]) -> Failure:
    """The category of a failure Apprise only logged (its warnings, in its own words)."""
    said = " ".join(lines)
    code = _STATUS.search(said)
    if code is not None:
        return failure_of_status(int(code.group(1)) * 100) or Failure.FAILED
    lowered = said.lower()
    if "timed out" in lowered or "timeout" in lowered:
        return Failure.TIMEOUT
    if "ssl" in lowered or "certificate" in lowered or "tls" in lowered:
        return Failure.TLS
    if "connection refused" in lowered:
        return Failure.CONNECTION_REFUSED
    return Failure.FAILED
