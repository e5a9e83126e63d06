"""A real SMTP server for tests and benches (aiosmtpd), keeping what it receives.

with SmtpServer() as smtp:            # listens on 127.0.0.1, a free port
    ... relay url: f"smtp://127.0.0.1:{smtp.port}?tls=none"
    mail = smtp.wait_for(lambda m: m.to == ["a@example.com"])
SmtpServer(refuse={"gone@example.com"})   # RCPT TO answered 550 (a permanent failure)
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller

from controlplane.cluster import free_port


@dataclass(frozen=True)
class Received:
    """One message as the server took it."""

    sender: str
    to: list[str]
    message: EmailMessage
    at: float

    @property
    def body(self) -> str:
        """The text body, decoded."""
        part = self.message.get_body(("plain",))
        return "" if part is None else str(part.get_content())


class _Handler:
    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse
        self.received: list[Received] = []
        self.lock = threading.Lock()

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.casefold() in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message, time.time())
            )
        return "250 OK"


class SmtpServer:
    """aiosmtpd on loopback, in a thread of its own."""

    def __init__(self, refuse: Iterable[str] = ()) -> None:
        self._handler = _Handler({a.casefold() for a in refuse})
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=free_port())

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Listen."""
        self._controller.start()

    def stop(self) -> None:
        """Stop listening."""
        self._controller.stop()

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._controller.port)

    @property
    def url(self) -> str:
        """A relay Secret's url for it (no TLS: loopback)."""
        return f"smtp://127.0.0.1:{self.port}?tls=none"

    def refuse(self, address: str) -> None:
        """Answer 550 to this recipient from now on."""
        self._handler.refuse.add(address.casefold())

    @property
    def received(self) -> list[Received]:
        """What arrived so far, oldest first (a copy)."""
        with self._handler.lock:
            return list(self._handler.received)

    def wait_for(
        self, match: Callable[[Received], bool], timeout: float = 30.0, count: int = 1
    ) -> list[Received]:
        """The first `count` messages that match, waiting for them; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.received if match(m)]
            if len(found) >= count:
                return found[:count]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(found)} of {count} messages arrived in {timeout} s; "
                    f"all: {[(m.to, m.message['Subject']) for m in self.received]}"
                )
            time.sleep(0.05)
