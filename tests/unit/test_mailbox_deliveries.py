"""Mailbox Subscribers without a cluster: the notifier on an in-memory API server, a recording
relay, a fixed clock. Bounces, their count in status, the deletion of the public's."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, TypeVar

import pytest

from statuspage_operator.api.names import Kind
from statuspage_operator.api.news import PageFacts
from statuspage_operator.api.notices import Notice, make_notices
from statuspage_operator.api.subscription_tokens import TokenKind, subscription_keys, verify
from statuspage_operator.control.notifications import (
    Mailboxes,
    Notifier,
    subscribers,
    waits_for_destination,
)
from statuspage_operator.control.view import PageEntry, View
from statuspage_operator.control.writer import Announcer, WritesInFlight
from statuspage_operator.mail import MailError, Relay
from unit.fake_channels import FakeChannels
from unit.fake_time import eventually
from unit.fakes import FakeClient, resource

NS = "default"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FACTS = PageFacts("Example", "UTC", None, None)
BASE = "https://status.example.com/subscriptions"
CONSENT = {"statuspage.dev/subscriber": "true"}
KEYS = {"key": "k" * 32, "naming": "n" * 32}
T = TypeVar("T")


@dataclass
class Relayed:
    """A relay that records what it is given; refuses some addresses (permanent or not)."""

    sent: list[EmailMessage] = field(default_factory=list)
    attempts: int = 0
    refuse: dict[str, bool] = field(default_factory=dict)

    async def __call__(self, relay: Relay, message: EmailMessage) -> None:
        self.attempts += 1
        permanent = self.refuse.get(str(message["To"]))
        if permanent is not None:
            code = 550 if permanent else 451
            raise MailError(f"the relay refused the message ({code})", permanent)
        self.sent.append(message)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.sent if m["To"] == address]


@dataclass
class Harness:
    api: FakeClient
    relay: Relayed
    announcer: Announcer
    notifier: Notifier

    async def mailbox(
        self, name: str, address: str | None, origin: str = "Public", created: str | None = None
    ) -> None:
        """A mailbox Subscriber appears, with its address Secret (if any) made before."""
        if address is not None:
            self.api.add_secret(NS, name, {"address": address}, CONSENT)
        spec = {
            "page": "example",
            "origin": origin,
            "mailboxSecretRef": {"name": name, "key": "address"},
        }
        body = resource("Subscriber", NS, name, spec)
        if created is not None:
            body["metadata"]["creationTimestamp"] = created
        await self.notifier.subscriber_event("ADDED", self.api.add(body))

    def status(self, name: str) -> dict[str, Any]:
        return self.api.status("subscribers", NS, name)


def make_harness(mail: bool = True) -> Harness:
    api = FakeClient()
    api.add_secret("signups", "relay", {"url": "smtp://relay.example.com:25?tls=none"})
    api.objects[("secrets", "signups", "relay")]["data"]["from"] = base64.b64encode(
        b"status@example.com"
    ).decode()
    api.add_secret("signups", "keys", KEYS)
    relay = Relayed()
    mailboxes = Mailboxes(
        api, "signups/relay" if mail else None, "signups/keys", BASE, sender=relay
    )
    view = View()
    view.set_page((NS, "example"), PageEntry("uid-page", 1, None, facts=FACTS))
    in_flight = WritesInFlight()
    announcer = Announcer(api, lambda: NOW, in_flight)
    notifier = Notifier(
        api, lambda: NOW, view, announcer, in_flight, 0.001, FakeChannels(), mailboxes
    )
    return Harness(api, relay, announcer, notifier)


def run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(scenario())


def notices(count: int) -> list[Notice]:
    items = [("IncidentUpdated", f"Update {i}.", False) for i in range(count)]
    return [
        n.about(str(i), None) for i, n in enumerate(make_notices("boom", "uid-boom", NOW, items))
    ]


def incident(count: int) -> dict[str, Any]:
    timeline = [
        {"status": "Investigating", "message": f"Update {i}.", "at": f"2026-12-01T11:5{i}:00Z"}
        for i in range(count)
    ]
    spec = {"page": "example", "title": "Errors", "components": [{"name": "api"}]}
    return {
        "metadata": {"namespace": NS, "name": "boom", "uid": "uid-boom"},
        "spec": spec,
        "status": {"timeline": timeline},
    }


def offer(h: Harness, count: int) -> None:
    h.notifier.offer(Kind.INCIDENT, incident(count), notices(count))


def test_a_mailbox_is_mailed_with_its_links_and_recorded() -> None:
    """The news by mail, with its manage link and List-Unsubscribe; recorded; bounces 0."""

    async def scenario() -> Harness:
        h = make_harness()
        await h.mailbox("public-a", "a@example.com")
        offer(h, 1)
        await eventually(lambda: h.status("public-a").get("sent") == 1)
        return h

    h = run(scenario)
    [message] = h.relay.to("a@example.com")
    token = str(message["List-Unsubscribe"]).strip("<>").rsplit("/", 1)[1]
    keys = subscription_keys({k: base64.b64encode(v.encode()).decode() for k, v in KEYS.items()})
    claims = verify(keys, TokenKind.MANAGE, token, NOW)
    assert claims is not None
    stored = h.api.get("subscribers", NS, "public-a")
    assert stored is not None
    assert (claims.subject, claims.uid) == ("public-a", stored["metadata"]["uid"])
    body = message.get_content()
    assert f"Manage your subscription: {BASE}/manage/" in body
    key = h.status("public-a")["delivered"][0]["key"]
    assert message["Message-ID"] == f"<{key}@example.com>"
    assert h.status("public-a")["bounces"] == 0
    assert h.api.ready("subscribers", NS, "public-a")["status"] == "True"


def test_a_permanent_refusal_is_not_retried_and_counts_a_bounce_in_the_same_write() -> None:
    """550: one attempt, failed and bounces both 1 in one status patch; DeliveryFailed."""

    async def scenario() -> Harness:
        h = make_harness()
        h.relay.refuse["c@example.com"] = True
        await h.mailbox("ops", "c@example.com", origin="Cluster")
        offer(h, 1)
        await eventually(lambda: h.status("ops").get("bounces") == 1)
        await asyncio.sleep(0.02)
        return h

    h = run(scenario)
    assert h.relay.attempts == 1
    status = h.status("ops")
    assert (status["failed"], status["bounces"]) == (1, 1)
    patches = [
        c.body["status"]
        for c in h.api.calls
        if c.method == "PATCH"
        and "bounces" in (c.body or {}).get("status", {})
        and c.body["status"]["bounces"] == 1
    ]
    assert any(p.get("failed") == 1 for p in patches)
    ready = h.api.ready("subscribers", NS, "ops")
    assert ready["reason"] == "DeliveryFailed"
    assert "c@example.com" not in ready["message"]


def test_a_temporary_refusal_is_retried_and_no_bounce() -> None:
    """451: retried on the retry policy (3 attempts), failed once, bounces stay 0."""

    async def scenario() -> Harness:
        h = make_harness()
        h.relay.refuse["t@example.com"] = False
        await h.mailbox("ops", "t@example.com", origin="Cluster")
        offer(h, 1)
        await eventually(lambda: h.status("ops").get("failed") == 1)
        return h

    h = run(scenario)
    assert h.relay.attempts == 3
    assert h.status("ops")["bounces"] == 0


def test_a_success_resets_the_bounces() -> None:
    """Two bounces, then the relay takes the next message: bounces back to 0, Ready again."""

    async def scenario() -> Harness:
        h = make_harness()
        h.relay.refuse["b@example.com"] = True
        await h.mailbox("public-b", "b@example.com")
        offer(h, 2)
        await eventually(lambda: h.status("public-b").get("bounces") == 2)
        del h.relay.refuse["b@example.com"]
        offer(h, 3)
        await eventually(lambda: h.status("public-b").get("sent") == 1)
        await eventually(lambda: h.status("public-b").get("bounces") == 0)
        return h

    h = run(scenario)
    assert h.api.get("subscribers", NS, "public-b") is not None
    assert h.api.ready("subscribers", NS, "public-b")["status"] == "True"


def test_three_bounces_delete_a_public_subscriber_and_say_so_on_its_page() -> None:
    """The third refusal in a row: deleted (a precondition on its uid), MailboxRemoved (Normal)
    on the page without the address; a Cluster one with the same bounces stays."""

    async def scenario() -> Harness:
        h = make_harness()
        h.relay.refuse["gone@example.com"] = True
        await h.mailbox("public-g", "gone@example.com")
        await h.mailbox("ops", "gone@example.com", origin="Cluster")
        offer(h, 3)
        await eventually(lambda: h.api.get("subscribers", NS, "public-g") is None)
        await eventually(lambda: h.status("ops").get("bounces") == 3)
        await h.announcer.drain()
        return h

    h = run(scenario)
    [delete] = [c for c in h.api.calls if c.method == "DELETE"]
    assert delete.path.endswith("/subscribers/public-g")
    assert delete.body["preconditions"]["uid"] == "uid-1"
    removed = [e for e in h.api.events() if e["reason"] == "MailboxRemoved"]
    assert [(e["involvedObject"]["name"], e["type"]) for e in removed] == [("example", "Normal")]
    assert "public-g" in removed[0]["message"]
    assert "gone@example.com" not in removed[0]["message"]
    assert h.api.get("subscribers", NS, "ops") is not None


def test_without_a_relay_a_mailbox_is_not_configured_and_waits() -> None:
    """No --mail-secret: MailNotConfigured naming the flag, checked again (the timer's filter);
    nothing is sent."""

    async def scenario() -> Harness:
        h = make_harness(mail=False)
        await h.mailbox("public-n", "n@example.com")
        offer(h, 1)
        await eventually(lambda: h.status("public-n").get("failed") == 1)
        return h

    h = run(scenario)
    ready = h.api.ready("subscribers", NS, "public-n")
    assert (ready["status"], ready["reason"]) == ("False", "MailNotConfigured")
    assert "--mail-secret" in ready["message"]
    assert waits_for_destination(h.status("public-n"))
    assert h.relay.attempts == 0


def test_an_address_secret_without_an_address_says_what_to_fix() -> None:
    """InvalidDestination naming the Secret and key, never the value."""

    async def scenario() -> Harness:
        h = make_harness()
        await h.mailbox("public-x", "not an address")
        return h

    h = run(scenario)
    ready = h.api.ready("subscribers", NS, "public-x")
    assert ready["reason"] == "InvalidDestination"
    assert "Secret public-x key 'address'" in ready["message"]
    assert "not an address" not in ready["message"]


def test_a_new_public_subscription_finds_its_address_soon_without_a_warning() -> None:
    """Its Subscriber comes before its Secret (owned by it): checked again within a second,
    Ready, and no SecretNotFound Warning."""

    async def scenario() -> Harness:
        h = make_harness()
        await h.mailbox("public-s", None, created="2026-12-01T12:00:00Z")
        assert h.api.ready("subscribers", NS, "public-s")["reason"] == "SecretNotFound"
        h.api.add_secret(NS, "public-s", {"address": "s@example.com"}, CONSENT)
        await eventually(
            lambda: h.api.ready("subscribers", NS, "public-s").get("status") == "True", 3.0
        )
        await h.announcer.drain()
        return h

    h = run(scenario)
    assert h.api.reasons("public-s") == []


def test_a_public_subscription_whose_address_never_comes_is_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Still no Secret after the quick checks: the SecretNotFound Warning, once."""
    monkeypatch.setattr(subscribers, "ADDRESS_RETRIES", (0.01, 0.01))

    async def scenario() -> Harness:
        h = make_harness()
        await h.mailbox("public-w", None, created="2026-12-01T12:00:00Z")
        await eventually(lambda: not h.notifier.subscribers._soon)
        await h.announcer.drain()
        return h

    h = run(scenario)
    assert h.api.reasons("public-w") == ["SecretNotFound"]


def test_an_old_subscription_without_its_address_is_a_warning_at_once() -> None:
    """Past the grace (a restart long after): the Warning at once, no quick checks."""

    async def scenario() -> Harness:
        h = make_harness()
        await h.mailbox("public-o", None)
        assert not h.notifier.subscribers._soon
        await h.announcer.drain()
        return h

    h = run(scenario)
    assert h.api.reasons("public-o") == ["SecretNotFound"]
