"""One attempt at a delivery, and what follows it: recorded, tried again later, or given up.

An attempt waits until no status write is in flight (a burst of transitions is written before its
thousands of deliveries start, like its Events), reads the destination, renders the text or the
signed webhook body, takes a place among the subscriber's unrecorded sends (record.py) and sends.
A failed send is tried again on the one retry policy (control/retry.py): `--notify-retry-base`,
doubling, ATTEMPTS in all, then the Subscriber says DeliveryFailed until a later success. A
destination that cannot work is not tried again: the Subscriber's condition says what to fix.

A mailbox subscriber is mailed through the relay (mailboxes.py): the same text, with its own
manage and unsubscribe links (api/mailbox.py). A permanent refusal (5xx) is not tried again: it
counts as failed and as one more bounce, in the same status write as the record; a success
resets the bounces.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

from statuspage_operator.api.conditions import Reason, Verdict
from statuspage_operator.api.mailbox import BOUNCE_LIMIT, Addressee, mail_news
from statuspage_operator.api.specs import Origin
from statuspage_operator.api.webhook import (
    EVENT_HEADER,
    KEY_HEADER,
    SIGNATURE_HEADER,
    News,
    Signature,
    encode,
    render_text,
    render_webhook,
    sign,
    signing_keys,
    standard_headers,
)
from statuspage_operator.control import metrics
from statuspage_operator.control.notifications.channels import Channels, DestinationError
from statuspage_operator.control.notifications.failures import SendError
from statuspage_operator.control.notifications.lanes import APPRISE_LANE, LANE, Delivery, Lanes
from statuspage_operator.control.notifications.record import PATIENCE, Records
from statuspage_operator.control.notifications.subscribers import Subscriber, Subscribers
from statuspage_operator.control.retry import RetryPolicy
from statuspage_operator.k8s.client import transient
from statuspage_operator.mail import MailError, compose

logger = logging.getLogger(__name__)

ATTEMPTS = 3
RETRY_BASE = 30.0
# A mailbox's sends at once (all of them share SMTP_CONNECTIONS: mailboxes.py).
MAIL_LANE = 2


class Deliveries:
    """The deliveries in flight: started in their subscriber's lane, attempted, finished."""

    def __init__(
        self,
        subscribers: Subscribers,
        records: Records,
        channels: Channels,
        idle: Callable[[float], Awaitable[bool]],
        clock: Callable[[], datetime],
        retry_base: float = RETRY_BASE,
    ) -> None:
        self.subscribers = subscribers
        self.records = records
        self.channels = channels
        self.idle = idle
        self.clock = clock
        self.policy = RetryPolicy(retry_base, ATTEMPTS)
        self.lanes = Lanes(self.attempt, clock)

    def start(self, delivery: Delivery) -> None:
        """Queue a delivery in its subscriber's lane."""
        self.lanes.start(delivery)

    def has(self, key: str) -> bool:
        """Whether a delivery of this key is in flight."""
        return self.lanes.has(key)

    def owes(self, notice: str) -> bool:
        """Whether deliveries of a notice are still in flight."""
        return self.lanes.owes(notice)

    async def attempt(self, delivery: Delivery) -> float | None:
        """One attempt; None when the delivery is done with, else seconds until the next."""
        subscriber, news = delivery.subscriber, delivery.news
        # Status first: during a burst, deliveries wait for the transitions' writes to go out.
        await self.idle(PATIENCE)
        spec = subscriber.spec
        if spec is None or not self.subscribers.holds(subscriber):
            return None  # the Subscriber went, or its spec is invalid now: nothing to send to
        if self.clock() > delivery.until:
            self._finish(subscriber, news, "expired")
            return None
        delivery.attempts += 1
        if spec.mailbox_secret_ref is not None:
            return await self._mail(delivery)
        try:
            destination = await self.subscribers.destination(subscriber)
            subscriber.lane.limit = LANE if destination.webhook else APPRISE_LANE
            headers = {KEY_HEADER: delivery.key, EVENT_HEADER: str(news.event)}
            title = text = ""
            if destination.webhook:
                if delivery.payload is None:
                    delivery.payload = encode(render_webhook(news, delivery.key))
                headers.update(await self._signed(subscriber, delivery.key, delivery.payload))
            else:
                title, text = render_text(news)
        except DestinationError:
            # Nothing to retry until someone fixes it; the condition says what.
            self._finish(subscriber, news, "failed")
            return None
        except Exception as failure:
            if not transient(failure):
                raise
            error = f"reading the destination failed: {failure}"
        else:
            await subscriber.ledger.wait_for_room()
            try:
                await self.channels.send(destination, title, text, delivery.payload or b"", headers)
            except BaseException as failure:
                subscriber.ledger.release(1)
                if not isinstance(failure, SendError):
                    raise
                error = str(failure)
            else:
                subscriber.ledger.sent(delivery.key, delivery.until)
                if subscriber.problem is not None and (
                    subscriber.problem.reason == Reason.DELIVERY_FAILED
                ):
                    subscriber.problem = None
                self._finish(subscriber, news, "sent")
                return None
        return self._failed(delivery, error)

    async def _mail(self, delivery: Delivery) -> float | None:
        """One attempt to mail a mailbox subscriber; like `attempt`, and a 5xx is a bounce."""
        subscriber, news = delivery.subscriber, delivery.news
        spec = subscriber.spec
        assert spec is not None
        subscriber.lane.limit = MAIL_LANE
        try:
            mailbox = await self.subscribers.mailbox(subscriber)
        except DestinationError:
            self._finish(subscriber, news, "failed")
            return None
        except Exception as failure:
            if not transient(failure):
                raise
            return self._failed(delivery, f"reading the destination failed: {failure}")
        now = self.clock()
        to = Addressee(subscriber.namespace, spec.page, subscriber.name, subscriber.uid)
        signing = mailbox.signing
        parts = mail_news(
            news,
            to,
            now,
            signing.keys if signing is not None else None,
            signing.links if signing is not None else None,
        )
        message = compose(
            mailbox.relay,
            mailbox.address,
            parts.display_name,
            parts.subject,
            parts.text,
            now,
            parts.unsubscribe_url,
        )
        # Like a webhook's Idempotency-Key: a message sent again after a crash (unrecorded) has
        # the same Message-ID, by which mail clients (and some servers) drop a repeat.
        domain = mailbox.relay.sender.rpartition("@")[2]
        message.replace_header("Message-ID", f"<{delivery.key}@{domain}>")
        ledger = subscriber.ledger
        await ledger.wait_for_room()
        try:
            await self.subscribers.mailboxes.send(mailbox.relay, message)
        except BaseException as failure:
            ledger.release(1)
            if not isinstance(failure, MailError):
                raise
            if not failure.permanent:
                return self._failed(delivery, failure.category)
            ledger.bounces = (ledger.bounces or 0) + 1
            rule = ""
            if spec.origin is Origin.PUBLIC:
                rule = f"; at {BOUNCE_LIMIT} the subscription is removed"
            message_text = (
                f"{news.event} not delivered: {failure.category}, not tried again; "
                f"{ledger.bounces} in a row{rule}"
            )
            subscriber.problem = Verdict(False, Reason.DELIVERY_FAILED, message_text)
            logger.warning(
                "Subscriber %s/%s: %s", subscriber.namespace, subscriber.name, message_text
            )
            self._finish(subscriber, news, "failed")
            return None
        ledger.sent(delivery.key, delivery.until)
        ledger.bounces = 0
        if subscriber.problem is not None and subscriber.problem.reason == Reason.DELIVERY_FAILED:
            subscriber.problem = None
        self._finish(subscriber, news, "sent")
        return None

    async def _signed(self, subscriber: Subscriber, key: str, payload: bytes) -> dict[str, str]:
        """The signature headers of one attempt: Standard Webhooks' (the delivery key as its id,
        stable across retries; this attempt's time) or the legacy body-only HMAC."""
        spec = subscriber.spec
        assert spec is not None
        secret = await self.subscribers.signing(subscriber)
        if spec.signature is Signature.LEGACY:
            return {} if secret is None else {SIGNATURE_HEADER: sign(payload, secret)}
        keys = [] if secret is None else signing_keys(secret)
        return standard_headers(key, int(self.clock().timestamp()), payload, keys)

    def _failed(self, delivery: Delivery, error: str) -> float | None:
        """An attempt failed: the delay before the next, or None once the policy gives up."""
        subscriber, news = delivery.subscriber, delivery.news
        if self.policy.again(delivery.attempts):
            metrics.NOTIFICATIONS.labels(result="retried").inc()
            delay = self.policy.delay(delivery.attempts, random.random())
            logger.warning(
                "Subscriber %s/%s: %s for %s; retrying in %.1fs",
                subscriber.namespace,
                subscriber.name,
                error,
                news.event,
                delay,
            )
            return delay
        message = f"{news.event} not delivered after {self.policy.attempts} attempts: {error}"
        subscriber.problem = Verdict(False, Reason.DELIVERY_FAILED, message[:1000])
        self._finish(subscriber, news, "failed")
        return None

    def _finish(self, subscriber: Subscriber, news: News, result: str) -> None:
        metrics.NOTIFICATIONS.labels(result=result).inc()
        subscriber.ledger.finish(result, self.clock(), str(news.event), news.name)
        self.records.flush_soon(
            subscriber.key, subscriber.ledger, partial(self.subscribers.write, subscriber)
        )

    def close(self) -> None:
        """Stop: retries are not made, sends on their way are cancelled."""
        self.lanes.close()
