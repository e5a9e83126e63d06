"""Mail to mailbox Subscribers: the relay and the subscription keys, read by name, and the sends.

The administrator names two Secrets (docs/operations.md, "Mail relay"): the relay
(`--mail-secret`, mail/relay.py) and the subscription keys (`--subscription-key-secret`,
api/subscription_tokens.py), and the public base URL of statuspage-signup (`--signup-url`). The
operator `get`s each Secret by name (its Role names them; it never lists or watches Secrets),
keeps what it read for SETTINGS_TTL seconds (a rotation is taken within that, without a
restart) and reads again sooner after a miss (MISS_TTL). Values never reach a log, a status or
an Event: a problem says which flag or key to fix.

At most SMTP_CONNECTIONS sends at once, across every subscriber: each send is a connection of
its own to the relay, which is one server shared with statuspage-signup.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from statuspage_operator.api.specs import Origin
from statuspage_operator.api.subscription_tokens import Links, SubscriptionKeys, subscription_keys
from statuspage_operator.k8s import subscribers as api
from statuspage_operator.k8s.client import Client
from statuspage_operator.mail import Relay, RelayError, relay_of, send

logger = logging.getLogger(__name__)

SETTINGS_TTL = 60.0
MISS_TTL = 5.0
SMTP_CONNECTIONS = 8
DOCS = "docs/operations.md, Mail relay"

# Reads a Secret named `NAMESPACE/NAME`: its base64 data, None when it cannot be read.
ReadSecret = Callable[[str], Awaitable[Mapping[str, Any] | None]]
Send = Callable[[Relay, EmailMessage], Awaitable[None]]


class MailNotConfiguredError(Exception):
    """Mail cannot go (or not with its links); the message says which flag or key to fix."""


@dataclass(frozen=True, slots=True)
class Signing:
    """What a message's manage and unsubscribe links need: the keys and the sign-up URL."""

    keys: SubscriptionKeys
    links: Links


class _Cached:
    """One Secret read by name, kept a while: its value, or the problem it had."""

    def __init__(self, reference: str, read: ReadSecret) -> None:
        self.reference = reference
        self._read = read
        self._at = float("-inf")
        self._data: Mapping[str, Any] | None = None
        self._lock = asyncio.Lock()

    async def data(self, fresh: bool = False) -> Mapping[str, Any] | None:
        async with self._lock:
            now = asyncio.get_running_loop().time()
            ttl = SETTINGS_TTL if self._data is not None else MISS_TTL
            if fresh or now - self._at >= ttl:
                self._data = await self._read(self.reference)
                self._at = now
            return self._data


class Mailboxes:
    """The operator's mail settings (each None when its flag is not given) and its sends."""

    def __init__(
        self,
        client: Client | None = None,
        mail_secret: str | None = None,
        key_secret: str | None = None,
        signup_url: str | None = None,
        *,
        read: ReadSecret | None = None,
        sender: Send = send,
    ) -> None:
        if read is None:
            assert client is not None
            reader = client

            async def read_named(reference: str) -> Mapping[str, Any] | None:
                return await api.read_named_secret(reader, reference)

            read = read_named
        self._relay = _Cached(mail_secret, read) if mail_secret else None
        self._keys = _Cached(key_secret, read) if key_secret else None
        self._signup_url = signup_url
        self._send = sender
        self._connections = asyncio.Semaphore(SMTP_CONNECTIONS)

    async def relay(self, fresh: bool = False) -> Relay:
        """The relay; MailNotConfiguredError saying what to fix."""
        if self._relay is None:
            raise MailNotConfiguredError(
                f"the operator has no mail relay: run it with --mail-secret NAMESPACE/NAME ({DOCS})"
            )
        data = await self._relay.data(fresh)
        if data is None:
            raise MailNotConfiguredError(
                f"the mail relay Secret {self._relay.reference} (--mail-secret) is missing or the "
                f"operator may not read it: create it, with keys url and from ({DOCS})"
            )
        try:
            return relay_of(data)
        except RelayError as error:
            raise MailNotConfiguredError(
                f"the mail relay Secret {self._relay.reference} (--mail-secret): {error}"
            ) from None

    async def signing(self, origin: Origin, fresh: bool = False) -> Signing | None:
        """The keys and links of a message; None for a Subscriber made in the cluster when they
        are not configured (its mail goes without links); MailNotConfiguredError for one made by
        the public (its mail must carry them)."""
        try:
            return await self._signing(fresh)
        except MailNotConfiguredError:
            if origin is Origin.PUBLIC:
                raise
            return None

    async def _signing(self, fresh: bool) -> Signing:
        if self._signup_url is None:
            raise MailNotConfiguredError(
                "a subscription by the public needs its manage and unsubscribe links: run the "
                f"operator with --signup-url (the public URL of statuspage-signup) ({DOCS})"
            )
        if self._keys is None:
            raise MailNotConfiguredError(
                "a subscription by the public needs its manage and unsubscribe links: run the "
                f"operator with --subscription-key-secret NAMESPACE/NAME ({DOCS})"
            )
        data = await self._keys.data(fresh)
        if data is None:
            raise MailNotConfiguredError(
                f"the subscription key Secret {self._keys.reference} (--subscription-key-secret) "
                "is missing or the operator may not read it: create it with keys key and naming"
            )
        keys = subscription_keys(data)
        if not keys.signing:
            raise MailNotConfiguredError(
                f"the subscription key Secret {self._keys.reference} (--subscription-key-secret) "
                "has no usable key: its key 'key' must hold at least 32 random bytes"
            )
        return Signing(keys, Links(self._signup_url))

    async def send(self, relay: Relay, message: EmailMessage) -> None:
        """One message through the relay, at most SMTP_CONNECTIONS at once; MailError."""
        async with self._connections:
            await self._send(relay, message)
