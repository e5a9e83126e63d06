"""The notifier: which notices become deliveries, to whom; what the rest of the operator calls.

The notifier has no clock of its own: it is offered every notice a status write records (by the
Writer) and every notice a status still holds after a restart (the Writer's replay). For each, and
each Subscriber of the page, it decides with the pure rules whether a delivery is due: the notice
as news (api/news.py, in the words of the page as the view holds it), the subscriber's events and
components, the catch-up rule (domain/notifications.py). A delivery's key is derived from
(subscriber, object, occurrence or update, event), so a key recorded as delivered, or in flight,
is never started again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from statuspage_operator.api.names import Kind
from statuspage_operator.api.news import PageFacts, for_audience, news_of
from statuspage_operator.api.notices import Notice
from statuspage_operator.control.notifications.channels import Channels
from statuspage_operator.control.notifications.deliveries import RETRY_BASE, Deliveries
from statuspage_operator.control.notifications.lanes import Delivery
from statuspage_operator.control.notifications.mailboxes import Mailboxes
from statuspage_operator.control.notifications.record import Records
from statuspage_operator.control.notifications.subscribers import Subscribers
from statuspage_operator.control.view import Body, View
from statuspage_operator.control.writer import Announcer, WritesInFlight
from statuspage_operator.domain.notifications import Moment, deadline, delivery_key, wants
from statuspage_operator.k8s.client import Client, transient

logger = logging.getLogger(__name__)

OFFERED_LIMIT = 20_000


class Notifier:
    """Subscribers of every page, and the deliveries of the notices recorded for them."""

    def __init__(
        self,
        client: Client,
        clock: Callable[[], datetime],
        view: View,
        announcer: Announcer,
        in_flight: WritesInFlight,
        retry_base: float = RETRY_BASE,
        channels: Channels | None = None,
        mailboxes: Mailboxes | None = None,
    ) -> None:
        self.clock = clock
        self.view = view
        self.channels = channels or Channels()
        self.subscribers = Subscribers(
            client, clock, view, announcer, self.channels.policy, mailboxes
        )
        self.records = Records(in_flight.idle)
        self.deliveries = Deliveries(
            self.subscribers, self.records, self.channels, in_flight.idle, clock, retry_base
        )
        # Notices (by Event name) already decided, with their deadline.
        self._offered: dict[str, datetime] = {}

    # -- Subscribers and pages ---------------------------------------------------------------

    def prime(self, body: Body) -> None:
        """A Subscriber from the list made before kopf's watches: known before any notice."""
        self.subscribers.observe(body)

    async def subscriber_event(self, event_type: str | None, body: Body) -> None:
        """A Subscriber appeared, changed or went: check its page and destination, write status."""
        await self.subscribers.event(event_type, body)

    async def recheck(self, namespace: str, name: str) -> None:
        """A Subscriber waits for its Secret, or a fixed URL in it: check again."""
        try:
            await self.subscribers.recheck(namespace, name)
        except Exception as error:
            if not transient(error):
                raise
            # The next recheck tries again.
            logger.warning("checking Subscriber %s/%s again failed: %s", namespace, name, error)

    async def heal(self, namespace: str, page: str) -> None:
        """A page appeared, changed or went: its subscribers' PageNotFound follows."""
        await self.subscribers.heal(namespace, page)

    def remind_before(self, namespace: str, page: str) -> timedelta | None:
        """The page's default for its windows' reminders (they exist for subscribers)."""
        return self._facts(namespace, page).remind_before

    def _facts(self, namespace: str, page: str) -> PageFacts:
        entry = self.view.pages.get((namespace, page))
        if entry is None or entry.facts is None:
            return PageFacts.unknown(page)
        return entry.facts

    # -- notices -----------------------------------------------------------------------------

    def owes(self, event: str) -> bool:
        """Whether deliveries of a notice are still in flight (its record must stay)."""
        return self.deliveries.owes(event)

    def offer(self, kind: Kind, body: Body, notices: Sequence[Notice]) -> None:
        """Notices recorded in an object's status: start the deliveries that are due."""
        if not notices or not self.subscribers.entries:
            return
        namespace = str(body.get("metadata", {}).get("namespace", ""))
        page = str((body.get("spec") or {}).get("page", ""))
        subscribers = self.subscribers.of_page(namespace, page)
        if not subscribers:
            return
        facts = self._facts(namespace, page)
        now = self.clock()
        for notice in notices:
            if notice.event in self._offered:
                # Each watch event of the object offers its notices again: decided already.
                continue
            news = news_of(kind, body, notice, page, facts)
            if news is None:
                self._remember_offered(notice.event, now, now)
                continue
            until = notice.until or deadline(news.event, Moment(notice.at))
            self._remember_offered(notice.event, until, now)
            if now > until:
                continue
            subject = notice.subject or notice.event
            for subscriber in subscribers:
                interest = subscriber.interest
                audience = subscriber.spec.audience if subscriber.spec is not None else None
                told = for_audience(news, facts, audience)
                if interest is None or told is None:
                    continue
                if not wants(interest, told.event, told.components, notice.at):
                    continue
                key = delivery_key(subscriber.uid, told.object_uid, subject, told.event)
                if key in subscriber.ledger.delivered or self.deliveries.has(key):
                    continue
                self.deliveries.start(Delivery(subscriber, told, key, until, notice.event))

    def _remember_offered(self, event: str, until: datetime, now: datetime) -> None:
        self._offered[event] = until
        if len(self._offered) > OFFERED_LIMIT:
            # Forgotten, a notice is only decided again (its keys say what was sent).
            alive = {e: u for e, u in self._offered.items() if u >= now}
            self._offered = dict(list(alive.items())[-OFFERED_LIMIT // 2 :])

    async def close(self) -> None:
        """Record what was delivered, then stop (deliveries still in flight are dropped)."""
        self.deliveries.close()
        self.subscribers.close()
        await self.records.close()
        await self.channels.close()
