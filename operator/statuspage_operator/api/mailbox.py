"""News as mail to a mailbox Subscriber: its text with the subscriber's own links, and the bounce
rule.

The text is the notice text every other channel sends (api/webhook.py `render_text`), then the
subscriber's manage and one-click unsubscribe links, each carrying a MANAGE token for this
Subscriber (its name and uid) that statuspage-signup verifies. Without the keys or the sign-up
URL (allowed for a Subscriber made in the cluster, never for one made by the public) the message
goes without links.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from statuspage_operator.api.specs import Origin
from statuspage_operator.api.subscription_tokens import (
    MANAGE_FOR,
    Links,
    SubscriptionKeys,
    TokenKind,
    mint,
)
from statuspage_operator.api.webhook import News, render_text

# Permanent failures (5xx) in a row after which a Subscriber made by the public is deleted.
BOUNCE_LIMIT = 3


@dataclass(frozen=True, slots=True)
class Addressee:
    """Whom a message is for: the Subscriber (its tokens name it), never its address."""

    namespace: str
    page: str
    name: str
    uid: str


@dataclass(frozen=True, slots=True)
class MailNews:
    """One message's parts: the sender's display name, subject, text, the List-Unsubscribe URL."""

    display_name: str
    subject: str
    text: str
    unsubscribe_url: str | None


def manage_token(keys: SubscriptionKeys, to: Addressee, now: datetime) -> str:
    """The MANAGE token of one message: this Subscriber, valid MANAGE_FOR from now."""
    return mint(keys, TokenKind.MANAGE, to.namespace, to.page, to.name, now + MANAGE_FOR, to.uid)


def mail_news(
    news: News,
    to: Addressee,
    now: datetime,
    keys: SubscriptionKeys | None = None,
    links: Links | None = None,
) -> MailNews:
    """The message of one piece of news; with keys and links, the subscriber's own links close
    the text and name the List-Unsubscribe URL."""
    subject, text = render_text(news)
    if keys is None or links is None or not keys.signing:
        return MailNews(news.page_title, subject, text, None)
    token = manage_token(keys, to, now)
    unsubscribe = links.unsubscribe(token)
    text = (
        f"{text}\n\n-- \nManage your subscription: {links.manage(token)}\n"
        f"Unsubscribe: {unsubscribe}\n"
    )
    return MailNews(news.page_title, subject, text, unsubscribe)


def bounced(bounces: int, origin: Origin) -> bool:
    """Whether a Subscriber whose mailbox was refused `bounces` times in a row is to be deleted:
    only one made by the public (a cluster user's object is theirs to remove)."""
    return origin is Origin.PUBLIC and bounces >= BOUNCE_LIMIT
