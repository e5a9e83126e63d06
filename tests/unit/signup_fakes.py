"""Fakes at the edge of statuspage-signup: an in-memory ledger and Subscriber store, a mailer.

The ledger fake keeps the interface's rules that the routes depend on (a pending sign-up found
until done, QUIET for an address mailed before, CLIENT_LIMITED after `burst` sign-ups of a client,
PAGE_FULL at max_pending); the real rules are tested in test_signup_ledger*.py against the real one.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from statuspage_operator.api.subscription_tokens import CONFIRM_FOR
from statuspage_operator.mail import MailError, Relay
from statuspage_operator.signup.kube import ExistsError
from statuspage_operator.signup.ledger import Outcome, Pending


@dataclass
class FakeLedger:
    """Pending sign-ups by (namespace, page, id)."""

    burst: int = 5
    pending: dict[tuple[str, str, str], Pending] = field(default_factory=dict)
    mailed_addresses: set[str] = field(default_factory=set)
    clients: Counter[str] = field(default_factory=Counter)
    calls: list[str] = field(default_factory=list)

    async def sign_up(
        self,
        namespace: str,
        page: str,
        address: str,
        components: tuple[str, ...] | None,
        client: str,
        now: datetime,
        max_pending: int,
    ) -> tuple[Outcome, Pending | None]:
        self.calls.append("sign_up")
        self.clients[client] += 1
        if self.clients[client] > self.burst:
            return Outcome.CLIENT_LIMITED, None
        if address in self.mailed_addresses:
            return Outcome.QUIET, None
        if sum(1 for key in self.pending if key[:2] == (namespace, page)) >= max_pending:
            return Outcome.PAGE_FULL, None
        self.mailed_addresses.add(address)
        made = Pending(
            secrets.token_urlsafe(16),
            namespace,
            page,
            address,
            components,
            now + CONFIRM_FOR,
            False,
        )
        self.pending[(namespace, page, made.id)] = made
        return Outcome.MAIL, made

    async def mailed(self, pending: Pending, now: datetime) -> None:
        self.calls.append("mailed")
        key = (pending.namespace, pending.page, pending.id)
        if key in self.pending:
            self.pending[key] = replace(self.pending[key], mailed=True)

    async def find(self, namespace: str, page: str, id: str, now: datetime) -> Pending | None:
        self.calls.append("find")
        found = self.pending.get((namespace, page, id))
        return found if found is not None and found.expires > now else None

    async def done(self, namespace: str, page: str, id: str) -> None:
        self.calls.append("done")
        self.pending.pop((namespace, page, id), None)

    async def unmailed(self, now: datetime) -> list[Pending]:
        return [p for p in self.pending.values() if not p.mailed and p.expires > now]

    async def sweep(self, now: datetime) -> int:
        return 0


@dataclass
class FakeSubscribers:
    """Subscribers and Secrets by (namespace, name), with uids and the uid preconditions."""

    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    secrets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)
    fail_secret: bool = False

    def add(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        stored = {**body, "metadata": {**body["metadata"], "uid": secrets.token_hex(8)}}
        stored["spec"] = dict(body["spec"])
        self.objects[(namespace, body["metadata"]["name"])] = stored
        return stored

    async def count_public(self, namespace: str, page: str, at_most: int) -> int:
        return sum(
            1
            for (ns, _), obj in self.objects.items()
            if ns == namespace
            and obj["spec"].get("origin") == "Public"
            and obj["spec"].get("page") == page
        )

    async def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.objects.get((namespace, name))

    async def create(self, namespace: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        self.writes.append("create")
        if (namespace, body["metadata"]["name"]) in self.objects:
            raise ExistsError(body["metadata"]["name"])
        return self.add(namespace, body)

    async def set_components(
        self, namespace: str, name: str, uid: str, components: tuple[str, ...] | None
    ) -> bool:
        self.writes.append("patch")
        found = self.objects.get((namespace, name))
        if found is None or found["metadata"]["uid"] != uid:
            return False
        found["spec"].pop("components", None)
        if components is not None:
            found["spec"]["components"] = list(components)
        return True

    async def delete(self, namespace: str, name: str, uid: str) -> None:
        self.writes.append("delete")
        found = self.objects.get((namespace, name))
        if found is not None and found["metadata"]["uid"] == uid:
            del self.objects[(namespace, name)]

    async def create_secret(self, namespace: str, body: Mapping[str, Any]) -> None:
        self.writes.append("secret")
        if self.fail_secret:
            raise ConnectionError("the API server went away")
        self.secrets.setdefault((namespace, body["metadata"]["name"]), dict(body))


@dataclass
class FakeMailer:
    """Records what it is given; raises `error` when set."""

    sent: list[EmailMessage] = field(default_factory=list)
    error: MailError | None = None

    async def __call__(self, relay: Relay, message: EmailMessage) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append(message)
