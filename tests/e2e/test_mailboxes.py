"""Mailbox Subscribers end to end: the operator mails news through a real relay (aiosmtpd,
tests/smtp_server.py), each message with its own links; bounces remove a subscription by the
public, never a cluster user's; without a relay, MailNotConfigured and the rest still delivers."""

from __future__ import annotations

import base64
import json
import secrets
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest

from e2e.conftest import OperatorProcess
from e2e.kube import Kube, condition, wait_for
from e2e.objects import API_VERSION, make_component, make_incident, make_page
from e2e.test_rbac_drafts import as_operator
from smtp_server import Received, SmtpServer
from statuspage_operator.api.subscription_tokens import (
    TokenKind,
    subscription_keys,
    subscription_name,
    verify,
)

SIGNUPS = "statuspage-signups"
RELAY = "statuspage-mail-relay"
KEYS = "statuspage-subscription-key"
BASE = "https://status.example.com/subscriptions"
GONE = "gone@example.com"
CONSENT = {"statuspage.dev/subscriber": "true"}
KEY_DATA = {"key": secrets.token_bytes(32), "naming": secrets.token_bytes(32)}


def encoded(**data: Any) -> dict[str, str]:
    return {
        k: base64.b64encode(v.encode() if isinstance(v, str) else v).decode()
        for k, v in data.items()
    }


def secret(name: str, data: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": labels or {}},
        "data": encoded(**data),
    }


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    """The relay: refuses GONE (550)."""
    with SmtpServer(refuse=[GONE]) as server:
        yield server


def mail_flags() -> list[str]:
    return [
        f"--mail-secret={SIGNUPS}/{RELAY}",
        f"--subscription-key-secret={SIGNUPS}/{KEYS}",
        f"--signup-url={BASE}",
    ]


def restart(operator: OperatorProcess, *args: str) -> None:
    operator.stop()
    operator.extra_args = ["--notify-retry-base=0.2", *args]
    operator.start()


@pytest.fixture(scope="module")
def mailing(kube: Kube, operator: OperatorProcess, smtp: SmtpServer) -> Iterator[OperatorProcess]:
    """The relay and key Secrets in statuspage-signups; the operator run with the mail flags."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SIGNUPS}}
    kube.run("apply", "-f", "-", stdin=json.dumps(namespace))
    kube.apply(
        SIGNUPS,
        secret(RELAY, {"url": smtp.url, "from": "status@example.com"}),
        secret(KEYS, KEY_DATA),
    )
    restart(operator, *mail_flags())
    yield operator
    operator.stop()
    operator.extra_args = []
    operator.start()


def subscriber(name: str, origin: str, mailbox: str, **spec: Any) -> dict[str, Any]:
    labels = {"statuspage.dev/origin": "public", "statuspage.dev/page": "example"}
    return {
        "apiVersion": API_VERSION,
        "kind": "Subscriber",
        "metadata": {"name": name, **({"labels": labels} if origin == "Public" else {})},
        "spec": {
            "page": "example",
            "origin": origin,
            "mailboxSecretRef": {"name": mailbox, "key": "address"},
            **spec,
        },
    }


def subscribe(kube: Kube, namespace: str, address: str, origin: str = "Public") -> str:
    """A subscription as statuspage-signup makes one: the Subscriber, then its address Secret
    owned by it. Returns the Subscriber's name."""
    naming = subscription_keys(encoded(**KEY_DATA)).naming
    assert naming is not None
    name = subscription_name(naming, namespace, "example", address)
    kube.apply(namespace, subscriber(name, origin, name))
    found = kube.get("subscriber", name, namespace)
    assert found is not None
    owner = {
        "apiVersion": API_VERSION,
        "kind": "Subscriber",
        "name": name,
        "uid": found["metadata"]["uid"],
    }
    labels = {**CONSENT, "statuspage.dev/origin": "public"}
    address_secret = secret(name, {"address": address}, labels)
    address_secret["metadata"]["ownerReferences"] = [owner]
    kube.apply(namespace, address_secret)
    return name


def setup_page(kube: Kube, namespace: str) -> None:
    kube.apply(namespace, make_page(url="https://status.example.com/"), make_component("api"))


def to(address: str) -> Any:
    return lambda m: m.to == [address]


def incident(updates: list[dict[str, str]]) -> dict[str, Any]:
    return make_incident("boom", [{"name": "api"}], updates=updates, impact="Major")


def token_of(mail: Received) -> str:
    unsubscribe = str(mail.message["List-Unsubscribe"]).strip("<>")
    prefix = f"{BASE}/unsubscribe/"
    assert unsubscribe.startswith(prefix), unsubscribe
    return unquote(unsubscribe[len(prefix) :])


def test_without_a_relay_mailboxes_say_so_and_others_still_deliver(
    kube: Kube, namespace: str, smtp: SmtpServer, operator: OperatorProcess
) -> None:
    """No --mail-secret (the suite's operator, before `mailing` restarts it with the flags): a
    mailbox Subscriber is MailNotConfigured, naming the flag; a URL Subscriber of the same page
    is still sent the news."""
    assert not any(a.startswith("--mail-secret") for a in operator.extra_args)
    setup_page(kube, namespace)
    public = subscribe(kube, namespace, f"{namespace}@example.com")
    url = f"mailto://127.0.0.1:{smtp.port}?from=status@example.com&to=url-{namespace}@example.com"
    kube.apply(
        namespace,
        secret("url", {"url": url}, CONSENT),
        {
            "apiVersion": API_VERSION,
            "kind": "Subscriber",
            "metadata": {"name": "url"},
            "spec": {"page": "example", "urlSecretRef": {"name": "url", "key": "url"}},
        },
    )

    def reason() -> Any:
        return condition(kube.status("subscriber", public, namespace), "Ready").get("reason")

    wait_for(lambda: reason() == "MailNotConfigured", 20, what="MailNotConfigured")
    ready = condition(kube.status("subscriber", public, namespace), "Ready")
    assert "--mail-secret" in ready["message"]
    kube.apply(namespace, incident([{"status": "Investigating", "message": "Looking."}]))
    smtp.wait_for(to(f"url-{namespace}@example.com"), 20)
    assert not [m for m in smtp.received if m.to == [f"{namespace}@example.com"]]


@pytest.mark.usefixtures("mailing")
def test_a_public_subscriber_gets_news_once_with_its_own_links(
    kube: Kube, namespace: str, smtp: SmtpServer, mailing: OperatorProcess
) -> None:
    """An incident's notice arrives by SMTP with both unsubscribe headers and a manage link whose
    token names this Subscriber; a SIGKILL and a restart do not send it again."""
    address = f"{namespace}@example.com"
    setup_page(kube, namespace)
    name = subscribe(kube, namespace, address)
    uid = (kube.get("subscriber", name, namespace) or {})["metadata"]["uid"]
    # Its Secret came after it: found again within seconds, and no Warning about it.
    wait_for(
        lambda: (
            condition(kube.status("subscriber", name, namespace), "Ready").get("status") == "True"
        ),
        10,
        what="Ready",
    )
    assert [e["reason"] for e in kube.events(namespace, name)] == []
    updates = [{"status": "Investigating", "message": "Looking into it."}]
    kube.apply(namespace, incident(updates))
    [mail] = smtp.wait_for(to(address), 20)
    message = mail.message
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Investigating: Incident boom" in str(message["Subject"])
    assert "Example" in str(message["From"])
    assert "Looking into it." in mail.body
    token = token_of(mail)
    assert f"Manage your subscription: {BASE}/manage/" in mail.body
    assert f"Unsubscribe: {BASE}/unsubscribe/" in mail.body
    claims = verify(
        subscription_keys(encoded(**KEY_DATA)), TokenKind.MANAGE, token, datetime.now(UTC)
    )
    assert claims is not None
    assert (claims.namespace, claims.page, claims.subject, claims.uid) == (
        namespace,
        "example",
        name,
        uid,
    )
    assert address not in name
    # Recorded before the crash: the restart replays the notice, and finds it delivered.
    wait_for(lambda: kube.status("subscriber", name, namespace).get("sent") == 1, 10, what="sent")
    mailing.stop(signal.SIGKILL)
    mailing.start()
    updates.append({"status": "Identified", "message": "A bad deploy."})
    kube.apply(namespace, incident(updates))
    smtp.wait_for(to(address), 20, count=2)
    mails = [m for m in smtp.received if m.to == [address]]
    assert ["Identified" in str(m.message["Subject"]) for m in mails] == [False, True]
    # Each news its own Message-ID, derived from its delivery key (stable across a resend).
    ids = [str(m.message["Message-ID"]) for m in mails]
    assert len(set(ids)) == 2
    assert all(i.endswith("@example.com>") and len(i) == len("<@example.com>") + 32 for i in ids)
    status = kube.status("subscriber", name, namespace)
    assert status["bounces"] == 0
    assert condition(status, "Ready")["status"] == "True"


@pytest.mark.usefixtures("mailing")
def test_three_bounces_remove_a_public_subscriber_only(
    kube: Kube, namespace: str, smtp: SmtpServer
) -> None:
    """The relay refuses (550) three times: the Public Subscriber is deleted, its address Secret
    goes with it, the page says MailboxRemoved; a Cluster one stays, DeliveryFailed."""
    setup_page(kube, namespace)
    public = subscribe(kube, namespace, GONE)
    kube.apply(
        namespace,
        secret("ops", {"address": GONE}, CONSENT),
        subscriber("ops", "Cluster", "ops"),
    )
    updates = [{"status": "Investigating", "message": "Looking into it."}]
    kube.apply(namespace, incident(updates))

    def bounces() -> int:
        return int(kube.status("subscriber", "ops", namespace).get("bounces") or 0)

    for count, status in ((1, "Identified"), (2, "Monitoring")):
        # One notice at a time: each is one more refusal in a row.
        wait_for(lambda count=count: bounces() >= count, 20, what=f"{count} bounces")  # type: ignore[misc]
        updates.append({"status": status, "message": status})
        kube.apply(namespace, incident(updates))
    wait_for(lambda: kube.get("subscriber", public, namespace) is None, 20, what="removed")
    wait_for(lambda: kube.get("secret", public, namespace) is None, 30, what="its Secret GC'd")
    wait_for(
        lambda: [e for e in kube.events(namespace, "example") if e["reason"] == "MailboxRemoved"],
        10,
        what="the MailboxRemoved Event",
    )
    [event] = [e for e in kube.events(namespace, "example") if e["reason"] == "MailboxRemoved"]
    assert event["type"] == "Normal"
    assert public in event["message"]
    assert GONE not in event["message"]
    wait_for(lambda: kube.status("subscriber", "ops", namespace).get("bounces") == 3, 10, what="3")
    ops = kube.status("subscriber", "ops", namespace)
    assert kube.get("subscriber", "ops", namespace) is not None
    assert ops["failed"] == 3
    assert condition(ops, "Ready")["reason"] == "DeliveryFailed"
    assert not [m for m in smtp.received if GONE in m.to]


def test_the_operator_may_delete_only_subscriptions_by_the_public(
    kube: Kube, namespace: str
) -> None:
    """The spec guard: as the operator, a Cluster Subscriber's deletion is refused, a Public
    one's allowed."""
    kube.apply(
        namespace,
        subscriber("theirs", "Cluster", "theirs"),
        subscriber("public-x", "Public", "public-x"),
    )
    base = f"/apis/statuspage.dev/v1alpha1/namespaces/{namespace}/subscribers"
    code, answer = as_operator(kube, "DELETE", f"{base}/theirs")
    assert code == 403, answer
    assert "may delete only Subscribers made by the public" in answer["message"]
    assert kube.get("subscriber", "theirs", namespace) is not None
    code, answer = as_operator(kube, "DELETE", f"{base}/public-x")
    assert code == 200, answer
