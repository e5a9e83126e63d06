"""Mail to mailbox Subscribers: the message's links, the bounce rule, the mail settings."""

from __future__ import annotations

import argparse
import asyncio
import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote

import pytest

from statuspage_operator.api.conditions import Verdict
from statuspage_operator.api.mailbox import BOUNCE_LIMIT, Addressee, bounced, mail_news
from statuspage_operator.api.specs import Origin
from statuspage_operator.api.status import subscriber_status
from statuspage_operator.api.subscription_tokens import (
    MANAGE_FOR,
    Links,
    TokenKind,
    subscription_keys,
    verify,
)
from statuspage_operator.api.webhook import News, render_text
from statuspage_operator.control.notifications.mailboxes import (
    SMTP_CONNECTIONS,
    Mailboxes,
    MailNotConfiguredError,
)
from statuspage_operator.domain.notifications import NotificationEvent
from statuspage_operator.mail import Relay
from statuspage_operator.main import build_parser, mail_problem

NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
BASE = "https://status.example.com/subscriptions"
TO = Addressee("team-a", "example", "public-abcdefghijklmnopqrstuvwxyz", "uid-1")


def b64(value: bytes | str) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode()


KEYS_DATA = {"key": b64(b"k" * 32), "naming": b64(b"n" * 32)}
RELAY_DATA = {"url": b64("smtp://relay.example.com:25?tls=none"), "from": b64("s@example.com")}


def make_news(**fields: Any) -> News:
    base: dict[str, Any] = {
        "event": NotificationEvent.INCIDENT_CREATED,
        "page": "example",
        "page_title": "Example",
        "time_zone": "UTC",
        "page_url": None,
        "object_uid": "incident-uid",
        "name": "db-down",
        "title": "Database down",
        "at": NOW,
        "status": "Investigating",
        "message": "We are looking into it.",
    }
    return News(**{**base, **fields})


def token_of(url: str, kind: str) -> str:
    prefix = f"{BASE}/{kind}/"
    assert url.startswith(prefix), url
    return unquote(url[len(prefix) :])


def test_the_text_is_the_notice_text_then_the_subscribers_own_links() -> None:
    """The body is what every channel sends, closed by a manage and an unsubscribe link."""
    keys = subscription_keys(KEYS_DATA)
    news = make_news()
    mail = mail_news(news, TO, NOW, keys, Links(BASE))
    subject, text = render_text(news)
    assert mail.subject == subject
    assert mail.display_name == "Example"
    assert mail.text.startswith(text + "\n\n")
    lines = mail.text.splitlines()
    manage = next(line for line in lines if line.startswith("Manage your subscription: "))
    unsubscribe = next(line for line in lines if line.startswith("Unsubscribe: "))
    assert unsubscribe.removeprefix("Unsubscribe: ") == mail.unsubscribe_url
    assert token_of(manage.split(": ", 1)[1], "manage") == token_of(
        mail.unsubscribe_url or "", "unsubscribe"
    )


def test_the_token_names_this_subscriber_and_lasts_manage_for() -> None:
    """The links' token verifies as MANAGE for this Subscriber (name and uid), for 90 days."""
    keys = subscription_keys(KEYS_DATA)
    mail = mail_news(make_news(), TO, NOW, keys, Links(BASE))
    claims = verify(
        keys, TokenKind.MANAGE, token_of(mail.unsubscribe_url or "", "unsubscribe"), NOW
    )
    assert claims is not None
    assert (claims.namespace, claims.page, claims.subject, claims.uid) == (
        "team-a",
        "example",
        TO.name,
        "uid-1",
    )
    assert claims.expires == NOW + MANAGE_FOR
    assert (
        verify(keys, TokenKind.CONFIRM, token_of(mail.unsubscribe_url or "", "unsubscribe"), NOW)
        is None
    )


def test_the_token_carries_no_address() -> None:
    """Nothing of the address is in the message's links (the Addressee has none to give)."""
    keys = subscription_keys(KEYS_DATA)
    mail = mail_news(make_news(), TO, NOW, keys, Links(BASE))
    assert "@" not in (mail.unsubscribe_url or "")


@pytest.mark.parametrize(
    ("keys", "links"),
    [
        pytest.param(None, Links(BASE), id="no-keys"),
        pytest.param(subscription_keys(KEYS_DATA), None, id="no-signup-url"),
        pytest.param(subscription_keys({}), Links(BASE), id="keys-unusable"),
    ],
)
def test_without_keys_or_url_the_message_goes_without_links(keys: Any, links: Any) -> None:
    """A cluster-made mailbox without the link settings: the notice text, no List-Unsubscribe."""
    news = make_news()
    mail = mail_news(news, TO, NOW, keys, links)
    assert (mail.subject, mail.text) == render_text(news)
    assert mail.unsubscribe_url is None


@pytest.mark.parametrize(
    ("bounces", "origin", "removed"),
    [
        pytest.param(BOUNCE_LIMIT - 1, Origin.PUBLIC, False, id="public-below-limit"),
        pytest.param(BOUNCE_LIMIT, Origin.PUBLIC, True, id="public-at-limit"),
        pytest.param(BOUNCE_LIMIT + 2, Origin.PUBLIC, True, id="public-beyond-limit"),
        pytest.param(BOUNCE_LIMIT, Origin.CLUSTER, False, id="cluster-never"),
        pytest.param(100, Origin.CLUSTER, False, id="cluster-never-even-at-100"),
        pytest.param(0, Origin.PUBLIC, False, id="public-fresh"),
    ],
)
def test_only_a_public_subscription_is_removed_at_the_bounce_limit(
    bounces: int, origin: Origin, removed: bool
) -> None:
    """Three refusals in a row remove a subscription by the public, never a cluster user's."""
    assert bounced(bounces, origin) is removed


def test_bounces_are_in_a_mailbox_status_only() -> None:
    """`status.bounces` is written for a mailbox (0 included), never for a URL subscriber."""

    def status(bounces: int | None) -> dict[str, Any]:
        return subscriber_status({}, {"sent": 1}, None, {}, Verdict.ok(), 1, NOW, bounces)

    assert status(2)["bounces"] == 2
    assert status(0)["bounces"] == 0
    assert "bounces" not in status(None)


def secrets(**stored: Mapping[str, Any]) -> tuple[Any, list[str]]:
    reads: list[str] = []

    async def read(reference: str) -> Mapping[str, Any] | None:
        reads.append(reference)
        return stored.get(reference.partition("/")[2])

    return read, reads


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def problem(coroutine: Any) -> str:
    with pytest.raises(MailNotConfiguredError) as raised:
        run(coroutine)
    return str(raised.value)


def test_without_the_mail_flag_the_message_names_it() -> None:
    """No --mail-secret: the problem says to run with it."""
    read, _ = secrets()
    assert "--mail-secret" in problem(Mailboxes(read=read).relay())


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(None, "is missing", id="missing"),
        pytest.param({"from": RELAY_DATA["from"]}, "no key 'url'", id="no-url"),
        pytest.param({**RELAY_DATA, "url": b64("http://x")}, "smtp://", id="not-smtp"),
    ],
)
def test_a_relay_secret_that_cannot_work_says_what_to_fix(data: Any, expected: str) -> None:
    """A missing or invalid relay Secret: the message names the Secret and what is wrong."""
    read, _ = secrets(**({"relay": data} if data is not None else {}))
    said = problem(Mailboxes(read=read, mail_secret="ns/relay").relay())
    assert "ns/relay" in said
    assert expected in said
    assert "relay.example.com" not in said


def test_a_relay_is_read_once_and_again_after_its_time() -> None:
    """The relay is cached (a rotation is taken after SETTINGS_TTL), read afresh on demand."""
    read, reads = secrets(relay=RELAY_DATA)
    mailboxes = Mailboxes(read=read, mail_secret="ns/relay")

    async def twice() -> Relay:
        await mailboxes.relay()
        await mailboxes.relay()
        return await mailboxes.relay(fresh=True)

    relay = run(twice())
    assert (relay.host, relay.port, relay.sender) == ("relay.example.com", 25, "s@example.com")
    assert reads == ["ns/relay", "ns/relay"]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param({"key_secret": "ns/keys"}, "--signup-url", id="no-signup-url"),
        pytest.param({"signup_url": BASE}, "--subscription-key-secret", id="no-key-secret"),
        pytest.param({"signup_url": BASE, "key_secret": "ns/gone"}, "is missing", id="missing"),
        pytest.param({"signup_url": BASE, "key_secret": "ns/short"}, "32", id="short-key"),
    ],
)
def test_a_public_subscriber_needs_its_links(flags: dict[str, Any], expected: str) -> None:
    """Origin Public without keys or sign-up URL: not configured, saying which flag; a Cluster
    one is mailed without links."""
    read, _ = secrets(keys=KEYS_DATA, short={"key": b64(b"k" * 8)})
    mailboxes = Mailboxes(read=read, mail_secret="ns/relay", **flags)
    assert expected in problem(mailboxes.signing(Origin.PUBLIC))
    assert run(mailboxes.signing(Origin.CLUSTER)) is None


def test_with_keys_and_url_both_origins_get_links() -> None:
    """Keys and URL configured: every mailbox gets its links."""
    read, _ = secrets(keys=KEYS_DATA)
    mailboxes = Mailboxes(read=read, key_secret="ns/keys", signup_url=BASE)
    for origin in Origin:
        signing = run(mailboxes.signing(origin))
        assert signing is not None
        assert signing.links == Links(BASE)


def test_at_most_smtp_connections_sends_at_once() -> None:
    """However many deliveries are ready, at most SMTP_CONNECTIONS talk to the relay at once."""
    active = peak = 0

    async def sender(relay: Relay, message: EmailMessage) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1

    async def burst() -> None:
        mailboxes = Mailboxes(read=secrets()[0], sender=sender)
        relay = Relay("relay.example.com", 25, "none", "s@example.com")
        await asyncio.gather(*(mailboxes.send(relay, EmailMessage()) for _ in range(50)))

    run(burst())
    assert peak == SMTP_CONNECTIONS


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["--mail-secret=relay"], "--mail-secret: NAMESPACE/NAME", id="no-namespace"),
        pytest.param(
            ["--subscription-key-secret=a/b/c"], "--subscription-key-secret", id="two-slashes"
        ),
        pytest.param(["--signup-url=ftp://x"], "--signup-url", id="not-http"),
        pytest.param(["--signup-url=https://x/s?a=1"], "without query", id="query"),
        pytest.param(
            [
                "--mail-secret=ns/relay",
                "--subscription-key-secret=ns/keys",
                "--signup-url=https://status.example.com/subscriptions",
            ],
            None,
            id="all-good",
        ),
    ],
)
def test_mail_flags_are_checked_at_start(argv: list[str], expected: str | None) -> None:
    """The mail flags: NAMESPACE/NAME Secrets, an http(s) base URL."""
    args: argparse.Namespace = build_parser().parse_args(argv)
    said = mail_problem(args)
    if expected is None:
        assert said is None
    else:
        assert said is not None
        assert expected in said
