"""What the routes do, without HTTP: sign up, mail the confirmation, confirm, manage, leave.

Decided from what was read (the page's offer from the watched objects, the ledger's answer, a
verified token), then written: the ledger in statuspage-signups (signup/ledger_store.py),
Subscribers and address Secrets in the page's namespace (signup/kube.py). Every step may be run
again: a confirmation that stopped half-way completes when its link is posted again.

Logs name a page and an outcome, never an address nor a token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from enum import StrEnum
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter

from statuspage_operator.api.signup_form import Choice, chosen, ticked
from statuspage_operator.api.subscription_tokens import (
    MANAGE_FOR,
    Claims,
    Links,
    TokenKind,
    mint,
    subscription_name,
    verify,
)
from statuspage_operator.mail import MailError, Relay, compose, send
from statuspage_operator.server.cache import Cache
from statuspage_operator.server.identity import Trust
from statuspage_operator.signup.kube import (
    PUBLIC,
    ExistsError,
    address_secret_body,
    subscriber_body,
)
from statuspage_operator.signup.ledger import Outcome, Pending
from statuspage_operator.signup.offers import Offer, offer, ready
from statuspage_operator.signup.settings import Settings

logger = logging.getLogger("statuspage_operator.signup")


class SignupLedger(Protocol):
    """What the service asks of the ledger (signup/ledger_store.py Ledger)."""

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
        """Record a sign-up, or say why not."""

    async def mailed(self, pending: Pending, now: datetime) -> None:
        """Mark its confirmation mailed."""

    async def find(self, namespace: str, page: str, id: str, now: datetime) -> Pending | None:
        """A pending sign-up, unexpired."""

    async def done(self, namespace: str, page: str, id: str) -> None:
        """Forget a pending sign-up."""

    async def unmailed(self, now: datetime) -> list[Pending]:
        """Sign-ups whose confirmation was not mailed."""

    async def sweep(self, now: datetime) -> int:
        """Drop expired sign-ups."""


class SubscriberStore(Protocol):
    """What the service asks of the API server (signup/kube.py SubscriberApi)."""

    async def count_public(self, namespace: str, page: str, at_most: int) -> int:
        """Public Subscribers of a page, up to `at_most`."""

    async def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """A Subscriber."""

    async def create(self, namespace: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """Create a Subscriber; ExistsError on a name taken."""

    async def set_components(
        self, namespace: str, name: str, uid: str, components: tuple[str, ...] | None
    ) -> bool:
        """Change spec.components of the Subscriber with this uid."""

    async def delete(self, namespace: str, name: str, uid: str) -> None:
        """Delete the Subscriber with this uid (nothing if gone)."""

    async def create_secret(self, namespace: str, body: Mapping[str, Any]) -> None:
        """Create an address Secret (fine if it exists)."""


class Confirmed(StrEnum):
    """How a confirmation ended."""

    SUBSCRIBED = "subscribed"
    INVALID = "invalid"
    FULL = "full"


@dataclass(frozen=True, slots=True)
class Subscription:
    """A public Subscriber a manage token names, as it stands."""

    claims: Claims
    uid: str
    components: tuple[str, ...] | None
    title: str
    options: tuple[Choice, ...]

    @property
    def ticked(self) -> frozenset[str]:
        """The form values to show ticked."""
        return ticked(self.options, self.components)


class Metrics:
    """Sign-ups, mails and confirmations by outcome, and requests by route and code."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "statuspage_signup_requests",
            "HTTP requests by route and code",
            ["route", "code"],
            registry=self.registry,
        )
        self.signups = Counter(
            "statuspage_signup_signups",
            "Sign-ups by the ledger's answer",
            ["outcome"],
            registry=self.registry,
        )
        self.mails = Counter(
            "statuspage_signup_mails",
            "Confirmation mails by result",
            ["result"],
            registry=self.registry,
        )
        self.confirmations = Counter(
            "statuspage_signup_confirmations",
            "Confirmations by result",
            ["result"],
            registry=self.registry,
        )
        self.unsubscribes = Counter(
            "statuspage_signup_unsubscribes",
            "Subscriptions ended by their links",
            registry=self.registry,
        )


Sender = Callable[[Relay, EmailMessage], Awaitable[None]]


def confirmation_text(title: str, url: str) -> str:
    """The confirmation mail's body."""
    return (
        f"Someone, probably you, asked for news of {title} by email at this address.\n\n"
        'To confirm, open this link within 24 hours and press "Confirm":\n\n'
        f"{url}\n\n"
        "If it was not you, ignore this message: nothing is kept, and nothing more is sent.\n"
    )


@dataclass
class Signup:
    """Everything the routes need."""

    cache: Cache
    subscribers: SubscriberStore
    links: Links
    trust: Trust = field(default_factory=Trust)
    settings: Settings = field(default_factory=Settings)
    ledger: SignupLedger | None = None
    sender: Sender = send
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    metrics: Metrics = field(default_factory=Metrics)
    shutting_down: bool = False
    _mailing: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def ready(self) -> bool:
        """Listed, keys and relay usable, the ledger made, and not stopping."""
        return (
            not self.shutting_down
            and ready(self.cache)
            and self.settings.usable
            and self.ledger is not None
        )

    def offer(self, namespace: str, page: str) -> Offer | None:
        """What the page offers (None: no form)."""
        return offer(self.cache, namespace, page)

    def _ledger(self) -> SignupLedger:
        if self.ledger is None:
            raise RuntimeError("not ready: no ledger")
        return self.ledger

    async def sign_up(
        self, offered: Offer, address: str, values: tuple[str, ...], client: str, now: datetime
    ) -> Outcome:
        """Record a sign-up; its confirmation is mailed in the background (the answer, the same
        whatever the outcome, does not wait for it, nor take longer for a new address)."""
        components = chosen(offered.options, values)
        outcome, pending = await self._ledger().sign_up(
            offered.namespace,
            offered.page,
            address,
            components,
            client,
            now,
            offered.max_pending,
        )
        self.metrics.signups.labels(str(outcome)).inc()
        logger.info("%s/%s: sign-up %s", offered.namespace, offered.page, outcome)
        if outcome is Outcome.MAIL and pending is not None:
            task = asyncio.create_task(self._mail_in_background(pending, offered.title))
            self._mailing.add(task)
            task.add_done_callback(self._mailing.discard)
        return outcome

    async def _mail_in_background(self, pending: Pending, title: str) -> None:
        try:
            await self.mail(pending, title)
        except Exception as error:  # the sign-up stays unmailed: the upkeep's resume sends it
            where = f"{pending.namespace}/{pending.page}"
            logger.warning("%s: mailing the confirmation failed (%s)", where, type(error).__name__)

    async def mail(self, pending: Pending, title: str) -> None:
        """Mail a pending sign-up's confirmation, then mark it mailed; a 5xx drops the sign-up
        (the address cannot take mail), anything else leaves it for `resume`."""
        where = f"{pending.namespace}/{pending.page}"
        relay, keys = self.settings.relay, self.settings.keys
        if relay is None or not keys.signing:
            logger.warning("%s: confirmation not mailed: no relay or key", where)
            return
        token = mint(
            keys, TokenKind.CONFIRM, pending.namespace, pending.page, pending.id, pending.expires
        )
        now = self.clock()
        message = compose(
            relay,
            pending.address,
            title,
            f"Confirm your subscription to {title}",
            confirmation_text(title, self.links.confirm(token)),
            now,
        )
        try:
            await self.sender(relay, message)
        except MailError as error:
            self.metrics.mails.labels("permanent" if error.permanent else "failed").inc()
            logger.warning("%s: confirmation not mailed (%s)", where, error.category)
            if error.permanent:
                await self._ledger().done(pending.namespace, pending.page, pending.id)
            return
        self.metrics.mails.labels("sent").inc()
        try:
            await self._ledger().mailed(pending, now)
        except Exception as error:
            # Mailed but not marked: a later resume mails it again (at least once, not lost).
            logger.warning("%s: confirmation mailed, not marked (%s)", where, type(error).__name__)
        logger.info("%s: confirmation mailed", where)

    async def resume(self, now: datetime) -> int:
        """Mail the confirmations a crash or a failed send left (the ledger leaves out the ones
        young enough for another replica to be mailing them); how many were tried."""
        tried = 0
        for pending in await self._ledger().unmailed(now):
            offered = self.offer(pending.namespace, pending.page)
            if offered is None:
                # The page stopped offering the form: its sign-ups are not confirmed any more.
                await self._ledger().done(pending.namespace, pending.page, pending.id)
                continue
            tried += 1
            await self.mail(pending, offered.title)
        return tried

    async def drain(self, seconds: float) -> None:
        """Let the confirmations being mailed finish (at most `seconds`)."""
        if self._mailing:
            await asyncio.wait(set(self._mailing), timeout=seconds)

    def confirm_claims(self, token: str, now: datetime) -> Claims | None:
        """A confirmation token's claims, if it verifies."""
        return verify(self.settings.keys, TokenKind.CONFIRM, token, now)

    async def confirm(self, token: str, now: datetime) -> tuple[Confirmed, str | None, str]:
        """Confirm a pending sign-up: the outcome, the manage link, the page's title."""
        claims = self.confirm_claims(token, now)
        if claims is None:
            return self._confirmed(Confirmed.INVALID), None, ""
        namespace, page = claims.namespace, claims.page
        pending = await self._ledger().find(namespace, page, claims.subject, now)
        offered = self.offer(namespace, page)
        if pending is None or offered is None:
            return self._confirmed(Confirmed.INVALID), None, ""
        naming = self.settings.keys.naming
        assert naming is not None  # ready says so
        name = subscription_name(naming, namespace, page, pending.address)
        existing = await self.subscribers.get(namespace, name)
        if existing is None:
            count = await self.subscribers.count_public(namespace, page, offered.max_subscribers)
            if count >= offered.max_subscribers:
                return self._confirmed(Confirmed.FULL), None, offered.title
            body = subscriber_body(name, page, pending.components)
            try:
                existing = await self.subscribers.create(namespace, body)
            except ExistsError:
                existing = await self.subscribers.get(namespace, name)
                if existing is None:  # created and deleted meanwhile: the next POST completes
                    raise RuntimeError("the Subscriber went while confirming") from None
        spec = existing.get("spec") or {}
        uid = str((existing.get("metadata") or {}).get("uid", ""))
        if spec.get("origin") != PUBLIC:
            # A cluster user's Subscriber holds the name: nothing of theirs is touched.
            return self._confirmed(Confirmed.INVALID), None, ""
        current = spec.get("components")
        wanted = pending.components
        if (None if current is None else tuple(sorted(current))) != wanted:
            await self.subscribers.set_components(namespace, name, uid, wanted)
        await self.subscribers.create_secret(
            namespace, address_secret_body(name, pending.address, uid)
        )
        await self._ledger().done(namespace, page, pending.id)
        manage = mint(
            self.settings.keys, TokenKind.MANAGE, namespace, page, name, now + MANAGE_FOR, uid
        )
        logger.info("%s/%s: subscription confirmed", namespace, page)
        return self._confirmed(Confirmed.SUBSCRIBED), self.links.manage(manage), offered.title

    def _confirmed(self, result: Confirmed) -> Confirmed:
        self.metrics.confirmations.labels(str(result)).inc()
        return result

    def manage_claims(self, token: str, now: datetime) -> Claims | None:
        """A manage token's claims, if it verifies."""
        return verify(self.settings.keys, TokenKind.MANAGE, token, now)

    async def subscription(self, token: str, now: datetime) -> Subscription | None:
        """The public Subscriber a manage token names, if it is still the one it was minted for."""
        claims = self.manage_claims(token, now)
        if claims is None:
            return None
        found = await self.subscribers.get(claims.namespace, claims.subject)
        if found is None:
            return None
        spec = found.get("spec") or {}
        uid = str((found.get("metadata") or {}).get("uid", ""))
        if uid != claims.uid or spec.get("origin") != PUBLIC:
            return None
        raw = spec.get("components")
        components = tuple(sorted(str(c) for c in raw)) if isinstance(raw, list) else None
        offered = self.offer(claims.namespace, claims.page)
        page = self.cache.page((claims.namespace, claims.page)) or {}
        title = offered.title if offered else str((page.get("spec") or {}).get("title") or "")
        options = offered.options if offered else ()
        return Subscription(claims, uid, components, title or claims.page, options)

    async def save(self, held: Subscription, values: tuple[str, ...]) -> Subscription | None:
        """Keep the ticked choices (none or all: everything); None when it went meanwhile."""
        components = chosen(held.options, values)
        claims = held.claims
        if not await self.subscribers.set_components(
            claims.namespace, claims.subject, held.uid, components
        ):
            return None
        logger.info("%s/%s: subscription changed", claims.namespace, claims.page)
        return Subscription(claims, held.uid, components, held.title, held.options)

    async def unsubscribe(self, claims: Claims) -> None:
        """Delete the Subscriber the token was minted for (already gone: the same)."""
        await self.subscribers.delete(claims.namespace, claims.subject, claims.uid)
        self.metrics.unsubscribes.inc()
        logger.info("%s/%s: unsubscribed", claims.namespace, claims.page)

    def client(self, peer: str | None, forwarded_for: list[str]) -> str:
        """The client address the limits count."""
        return self.trust.client(peer, forwarded_for)
