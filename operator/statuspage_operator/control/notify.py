"""Subscriber notifications: every notice the writer records becomes deliveries, each once.

The notifier has no clock of its own: it is told of every notice a status write records
(`offer`, from the Writer) and of every notice a status still holds after a restart (from the
Announcer's replay). For each, and each Subscriber of the page, it decides with the pure rules
(domain/notifications.py: event, switch, filters, catch-up rule) whether a delivery is due, and
derives its key from (subscriber, object, occurrence or update, event).

Each subscriber has a lane of its own: a few sends at once (LANE; in order per object), worked by
a few tasks that live while it has work, so a slow or dead endpoint holds only its own lane, and a
retry waits on a timer, not in a task. Transitions go first: a send, like an Event, waits until no
status write is in flight, so a burst of windows is written before its thousands of deliveries
start.

A delivered key is recorded in the Subscriber's `status.delivered` and kept while its notice can
still be sent, so a restart never sends it again. A write carries every key sent since the last
(at most one write per RECORD_INTERVAL per subscriber, sooner when sends wait for it): at most
UNRECORDED deliveries per subscriber are sent, or being sent, and not recorded. Only those can be
sent again after a crash, with the same key and body, and the `Idempotency-Key` header lets a
receiver drop them. (Recording an intent before each send would not spare one of them: a key
whose send may have happened has to be sent again.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from statuspage_operator.api.conditions import Reason, Verdict
from statuspage_operator.api.names import Kind
from statuspage_operator.api.notices import Notice, make_notices
from statuspage_operator.api.specs import PageSpec, SubscriberSpec, parse, parse_duration
from statuspage_operator.api.status import parse_delivered, subscriber_status
from statuspage_operator.api.times import format_time, parse_time
from statuspage_operator.api.webhook import (
    EVENT_HEADER,
    KEY_HEADER,
    SIGNATURE_HEADER,
    News,
    encode,
    render_text,
    render_webhook,
    sign,
)
from statuspage_operator.control import metrics
from statuspage_operator.control.channels import (
    Channels,
    Destination,
    DestinationError,
    SendError,
    parse_destination,
)
from statuspage_operator.control.view import Body, Key, Recorded, version_of
from statuspage_operator.control.writer import Writer
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.notifications import (
    Interest,
    Moment,
    NotificationEvent,
    allowed_by_source,
    backoff,
    deadline,
    delivery_key,
    event_of,
    prune,
    wants,
)
from statuspage_operator.k8s import subscribers as api
from statuspage_operator.k8s.client import Client, NotFoundError, transient

logger = logging.getLogger(__name__)

ATTEMPTS = 3
RETRY_BASE = 30.0
# Sends in flight per subscriber: webhooks, and Apprise channels (each holds one of its threads).
LANE = 8
APPRISE_LANE = 2
# Deliveries and record writes wait at most this long for the status writes in flight.
PATIENCE = 30.0
# A subscriber's record is written at most once per interval: each write carries the whole record.
RECORD_INTERVAL = 0.25
# At most this many deliveries per subscriber sent and not yet recorded (in flight included): all
# that a crash can make it send again, under the same keys. Beyond that, sends wait for the record
# (unless it cannot be written). Not smaller: each write carries the whole record (90 KB for 1,000
# keys), and a bound that binds in a burst multiplies them (32 per subscriber: five times the
# writes, four times the API server's CPU, a third of the throughput; tests/bench/notify.py).
UNRECORDED = 256
RECORD_RETRY = 5.0
RECORD_LIMIT = 10_000
OFFERED_LIMIT = 20_000
SECRET_TTL = 10.0
RECHECK = 30.0


@dataclass(frozen=True, slots=True)
class PageInfo:
    """What notifications show of a page, and its reminder default."""

    title: str
    time_zone: str
    url: str | None
    remind_before: timedelta | None


@dataclass(slots=True)
class Delivery:
    """One piece of news for one subscriber."""

    subscriber: SubscriberEntry
    news: News
    key: str
    until: datetime
    notice: str
    attempts: int = 0
    payload: bytes | None = None


@dataclass(slots=True)
class Lane:
    """One subscriber's deliveries: per object, in order; the objects whose next can go now."""

    chains: dict[str, deque[Delivery]] = field(default_factory=dict)
    ready: deque[str] = field(default_factory=deque)
    workers: int = 0
    limit: int = LANE


@dataclass(slots=True)
class SubscriberEntry:
    """One Subscriber: its spec, what it was sent, and how its deliveries went."""

    uid: str
    namespace: str
    name: str
    generation: int
    created: datetime | None
    spec: SubscriberSpec | None
    error: InvalidSpecError | None
    interest: Interest | None = None
    recorded: Recorded = field(default_factory=Recorded)
    delivered: dict[str, datetime] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    last: dict[str, str] | None = None
    # The latest problem: a destination that cannot work, or a delivery that failed for good.
    problem: Verdict | None = None
    dirty: bool = False
    # The generation whose destination was last checked.
    checked: int = -1
    lane: Lane = field(default_factory=Lane)
    # Deliveries sent and not recorded yet; with those being sent, at most UNRECORDED.
    unrecorded: int = 0
    outstanding: int = 0
    # Set when a send may go (outstanding below UNRECORDED), and when one waits for that.
    room: asyncio.Event = field(default_factory=asyncio.Event)
    full: asyncio.Event = field(default_factory=asyncio.Event)
    # The last write of the record failed.
    unwritable: bool = False

    @property
    def ref(self) -> dict[str, str]:
        """An object reference for Events."""
        return {"kind": api.KIND, "namespace": self.namespace, "name": self.name, "uid": self.uid}


def _created(body: Body) -> datetime | None:
    stamp = body.get("metadata", {}).get("creationTimestamp")
    try:
        return parse_time(str(stamp)) if stamp else None
    except ValueError:
        return None


class Notifier:
    """Subscribers of every page, and the deliveries in flight."""

    def __init__(
        self,
        client: Client,
        writer: Writer,
        clock: Callable[[], datetime],
        retry_base: float = RETRY_BASE,
    ) -> None:
        self.client = client
        self.writer = writer
        self.clock = clock
        self.retry_base = retry_base
        self.channels = Channels()
        self.pages: dict[Key, PageInfo] = {}
        self.subscribers: dict[Key, SubscriberEntry] = {}
        self._inflight: set[str] = set()
        # Notices (by Event name) already decided, with their deadline.
        self._offered: dict[str, datetime] = {}
        # Notices (by Event name) with deliveries still in flight: a write carries them over.
        self._owed: Counter[str] = Counter()
        self._workers: set[asyncio.Task[None]] = set()
        self._retries: set[asyncio.TimerHandle] = set()
        self._flushes: dict[Key, asyncio.Task[None]] = {}
        self._locks: dict[Key, asyncio.Lock] = {}
        self._secrets: dict[tuple[str, str, str], tuple[float, bytes]] = {}
        self._destinations: dict[str, Destination] = {}
        self._recheck: asyncio.Task[None] | None = None

    # -- pages -------------------------------------------------------------------------------

    def page_event(self, gone: bool, body: Body) -> bool:
        """Keep what notifications show of a page; True if its reminder default changed."""
        meta = body.get("metadata", {})
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        old = self.pages.pop(key, None)
        if gone:
            return old is not None and old.remind_before is not None
        try:
            spec = parse(PageSpec, body.get("spec"))
            remind = parse_duration("spec.remindBefore", spec.remind_before)
        except InvalidSpecError:
            return False
        info = PageInfo(spec.title, spec.time_zone, spec.url, remind)
        self.pages[key] = info
        return (old.remind_before if old else None) != remind

    async def heal(self, namespace: str, page: str) -> None:
        """A page appeared, changed or went: its subscribers' PageNotFound follows."""
        for entry in list(self.subscribers.values()):
            if entry.namespace == namespace and entry.spec is not None and entry.spec.page == page:
                await self._write(entry)

    def remind_before(self, namespace: str, page: str) -> timedelta | None:
        """The page's default for its windows' reminders."""
        info = self.pages.get((namespace, page))
        return info.remind_before if info else None

    # -- subscribers -------------------------------------------------------------------------

    def owes(self, event: str) -> bool:
        """Whether deliveries of a notice are still in flight (its record must stay)."""
        return self._owed.get(event, 0) > 0

    def prime(self, body: Body) -> None:
        """A Subscriber from the list made before kopf's watches: known before any notice."""
        self._observe(body)

    def _observe(self, body: Body) -> SubscriberEntry:
        meta = body.get("metadata", {})
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        uid, generation = str(meta.get("uid", "")), int(meta.get("generation") or 0)
        entry = self.subscribers.get(key)
        if entry is None or entry.uid != uid:
            entry = SubscriberEntry(uid, key[0], key[1], 0, _created(body), None, None)
            self.subscribers[key] = entry
        if entry.generation != generation or (entry.spec is None and entry.error is None):
            entry.generation = generation
            entry.spec, entry.error, entry.interest = None, None, None
            try:
                entry.spec = parse(SubscriberSpec, body.get("spec"))
                entry.interest = entry.spec.interest(entry.created)
            except InvalidSpecError as error:
                entry.error = error
            if entry.problem is not None and entry.problem.reason != Reason.DELIVERY_FAILED:
                entry.problem = None
        entry.recorded.update(body)
        # Keys only ever grow here (pruned by deadline): our own later writes are kept.
        for delivered_key, until in parse_delivered(entry.recorded.status).items():
            entry.delivered.setdefault(delivered_key, until)
        status = entry.recorded.status
        if not entry.counts:
            entry.counts.update(
                sent=int(status.get("sent") or 0), failed=int(status.get("failed") or 0)
            )
        return entry

    async def subscriber_event(self, event_type: str | None, body: Body) -> None:
        """A Subscriber appeared, changed or went: check its page and destination, write status."""
        meta = body.get("metadata", {})
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        if event_type == "DELETED" or meta.get("deletionTimestamp"):
            self.subscribers.pop(key, None)
            return
        known = self.subscribers.get(key)
        if (
            known is not None
            and known.uid == meta.get("uid")
            and known.generation == int(meta.get("generation") or 0) == known.checked
            and version_of(body) <= known.recorded.version
        ):
            # Our own record write coming back (or an older event): nothing new to read.
            return
        entry = self._observe(body)
        if self._recheck is None:
            self._recheck = asyncio.create_task(self._recheck_loop(), name="recheck subscribers")
        await self.check(entry)

    async def check(self, entry: SubscriberEntry) -> None:
        """Can the subscriber be delivered to? Say so in its conditions (only what differs)."""
        failed = entry.problem is not None and entry.problem.reason == Reason.DELIVERY_FAILED
        # Our own record writes come back as events too: the Secret is read again only for a
        # new generation or while the destination has a problem.
        stale = entry.checked != entry.generation or entry.problem is not None
        if entry.spec is not None and not failed and stale:
            with contextlib.suppress(DestinationError):
                await self._destination(entry, fresh=True)
            entry.checked = entry.generation
        await self._write(entry)

    async def _recheck_loop(self) -> None:
        # Secrets are not watched (the operator may only get them): a Subscriber waiting for its
        # Secret, or for a fixed URL in it, is checked again now and then.
        while True:
            await asyncio.sleep(RECHECK)
            for entry in list(self.subscribers.values()):
                if entry.problem is not None and entry.problem.reason in (
                    Reason.SECRET_NOT_FOUND,
                    Reason.INVALID_DESTINATION,
                ):
                    with contextlib.suppress(Exception):
                        await self.check(entry)

    def verdict(self, entry: SubscriberEntry) -> Verdict:
        """Ready, or what to fix."""
        if entry.error is not None:
            return Verdict(False, Reason.INVALID_SPEC, str(entry.error), stalled=True)
        assert entry.spec is not None
        if (entry.namespace, entry.spec.page) not in self.pages:
            return Verdict(
                False,
                Reason.PAGE_NOT_FOUND,
                f"page {entry.spec.page} not found in namespace {entry.namespace}; create it, "
                "or fix spec.page",
            )
        if entry.problem is not None:
            return entry.problem
        return Verdict.ok()

    async def _destination(self, entry: SubscriberEntry, fresh: bool = False) -> Destination:
        """The subscriber's destination, from its Secret (cached a few seconds)."""
        assert entry.spec is not None
        ref = entry.spec.url_secret_ref
        try:
            raw = await self._secret(entry.namespace, ref.name, ref.key, fresh)
            url = raw.decode("utf-8", errors="strict")
        except api.SecretError as problem:
            entry.problem = Verdict(
                False,
                Reason.SECRET_NOT_FOUND,
                f"{problem}: create it with the destination URL under that key, or fix "
                "spec.urlSecretRef",
            )
            raise DestinationError(str(problem)) from problem
        except UnicodeDecodeError as error:
            entry.problem = Verdict(
                False, Reason.INVALID_DESTINATION, f"Secret {ref.name} key {ref.key!r} is not text"
            )
            raise DestinationError("not text") from error
        try:
            destination = self._destinations.get(url) or parse_destination(url)
        except DestinationError as error:
            entry.problem = Verdict(
                False,
                Reason.INVALID_DESTINATION,
                f"Secret {ref.name} key {ref.key!r}: {error}",
            )
            raise
        if len(self._destinations) > 1024:
            self._destinations.clear()
        self._destinations[url] = destination
        if entry.problem is not None and entry.problem.reason != Reason.DELIVERY_FAILED:
            entry.problem = None
        return destination

    async def _secret(self, namespace: str, name: str, key: str, fresh: bool = False) -> bytes:
        loop = asyncio.get_running_loop()
        cached = self._secrets.get((namespace, name, key))
        if cached is not None and not fresh and loop.time() - cached[0] < SECRET_TTL:
            return cached[1]
        value = await api.read_secret_key(self.client, namespace, name, key)
        self._secrets[(namespace, name, key)] = (loop.time(), value)
        return value

    # -- notices -----------------------------------------------------------------------------

    def offer(self, kind: Kind, body: Body, notices: Sequence[Notice]) -> None:
        """Notices recorded in an object's status: start the deliveries that are due."""
        if not notices or not self.subscribers:
            return
        meta = body.get("metadata", {})
        namespace = str(meta.get("namespace", ""))
        spec = body.get("spec") or {}
        page = str(spec.get("page", ""))
        subscribers = [
            s
            for s in self.subscribers.values()
            if s.namespace == namespace and s.spec is not None and s.spec.page == page
        ]
        if not subscribers:
            return
        info = self.pages.get((namespace, page)) or PageInfo(page, "UTC", None, None)
        now = self.clock()
        for notice in notices:
            if notice.event in self._offered:
                # Each watch event of the object offers its notices again: decided already.
                continue
            news = self._news(kind, body, notice, page, info)
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
                if interest is None or not wants(interest, news.event, news.components, notice.at):
                    continue
                key = delivery_key(subscriber.uid, news.object_uid, subject, news.event)
                if key in subscriber.delivered or key in self._inflight:
                    continue
                self._start(Delivery(subscriber, news, key, until, notice.event))

    def _remember_offered(self, event: str, until: datetime, now: datetime) -> None:
        self._offered[event] = until
        if len(self._offered) > OFFERED_LIMIT:
            # Forgotten, a notice is only decided again (its keys say what was sent).
            alive = {e: u for e, u in self._offered.items() if u >= now}
            self._offered = dict(list(alive.items())[-OFFERED_LIMIT // 2 :])

    def _news(
        self, kind: Kind, body: Body, notice: Notice, page: str, info: PageInfo
    ) -> News | None:
        meta = body.get("metadata", {})
        spec: dict[str, Any] = body.get("spec") or {}
        common: dict[str, Any] = {
            "page": page,
            "page_title": info.title,
            "time_zone": info.time_zone,
            "page_url": info.url,
            "object_uid": str(meta.get("uid", "")),
            "name": str(meta.get("name", "")),
        }
        if kind is Kind.WINDOW:
            event = event_of(notice.reason)
            if event is None or not allowed_by_source(event, bool(spec.get("notifySubscribers"))):
                return None
            start = end = None
            with contextlib.suppress(KeyError, ValueError, TypeError):
                first_start = parse_time(str(spec["startTime"]))
                duration = parse_time(str(spec["endTime"])) - first_start
                start = parse_time(notice.subject) if notice.subject else first_start
                end = start + duration
            return News(
                event,
                title=str(spec.get("title", common["name"])),
                at=notice.at,
                components=tuple(spec.get("components") or ()),
                start=start,
                end=end,
                description=spec.get("description"),
                **common,
            )
        if kind is Kind.INCIDENT:
            timeline = (body.get("status") or {}).get("timeline") or []
            index = int(notice.subject) if notice.subject.isdigit() else None
            entry = timeline[index] if index is not None and index < len(timeline) else None
            if notice.reason == Reason.INCIDENT_UPDATED and entry is None:
                return None
            status = str(entry.get("status")) if entry else None
            event = event_of(notice.reason, index, status)
            on = spec.get("notifySubscribers", True) is not False
            if event is None or not allowed_by_source(event, on):
                return None
            assert entry is not None
            return News(
                event,
                title=str(spec.get("title", common["name"])),
                at=parse_time(str(entry.get("at"))) if entry.get("at") else notice.at,
                components=tuple(str(c.get("name")) for c in spec.get("components") or ()),
                status=status,
                message=str(entry.get("message") or ""),
                impact=str(spec.get("impact") or "Minor"),
                **common,
            )
        if kind is Kind.COMPONENT and notice.reason == Reason.COMPONENT_STATUS_CHANGED:
            old, _, new = notice.message.partition(" -> ")
            return News(
                NotificationEvent.COMPONENT_STATUS_CHANGED,
                title=str(spec.get("displayName") or common["name"]),
                at=notice.at,
                components=(str(common["name"]),),
                status=new or None,
                old_status=old or None,
                **common,
            )
        return None

    # -- deliveries --------------------------------------------------------------------------

    def _start(self, delivery: Delivery) -> None:
        self._inflight.add(delivery.key)
        self._owed[delivery.notice] += 1
        lane = delivery.subscriber.lane
        chain = delivery.news.object_uid
        waiting = lane.chains.get(chain)
        if waiting is not None:
            # The same subscriber hears of one object in order (created before updated).
            waiting.append(delivery)
            return
        lane.chains[chain] = deque([delivery])
        self._ready(delivery.subscriber, chain)

    def _ready(self, entry: SubscriberEntry, chain: str) -> None:
        """The object's next delivery can go: a worker of the lane takes it (one more if room)."""
        lane = entry.lane
        lane.ready.append(chain)
        if lane.workers < lane.limit:
            lane.workers += 1
            task = asyncio.create_task(
                self._work(entry), name=f"deliver to {entry.namespace}/{entry.name}"
            )
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)

    async def _work(self, entry: SubscriberEntry) -> None:
        """A worker of one lane: send while deliveries are ready, then end."""
        lane = entry.lane
        try:
            while lane.ready and lane.workers <= lane.limit:
                chain = lane.ready.popleft()
                delivery = lane.chains[chain][0]
                try:
                    done = await self._attempt(delivery)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("delivery %s failed unexpectedly", delivery.key)
                    done = True
                if done:
                    self._next(entry, chain)
        finally:
            lane.workers -= 1

    def _next(self, entry: SubscriberEntry, chain: str) -> None:
        """The object's delivery in front is done: let its next one go."""
        waiting = entry.lane.chains[chain]
        delivery = waiting.popleft()
        self._inflight.discard(delivery.key)
        self._owed[delivery.notice] -= 1
        if self._owed[delivery.notice] <= 0:
            del self._owed[delivery.notice]
        if waiting:
            self._ready(entry, chain)
        else:
            del entry.lane.chains[chain]

    def _retry_later(self, entry: SubscriberEntry, chain: str, delay: float) -> None:
        """Try the object's delivery in front again after a while (its lane goes on meanwhile)."""

        def again() -> None:
            self._retries.discard(handle)
            self._ready(entry, chain)

        handle = asyncio.get_running_loop().call_later(delay, again)
        self._retries.add(handle)

    async def _attempt(self, delivery: Delivery) -> bool:
        """One attempt; True when the delivery is done with (sent, failed, expired, dropped)."""
        subscriber, news = delivery.subscriber, delivery.news
        # Status first: during a burst, deliveries wait for the transitions' writes to go out.
        await self.writer.idle(PATIENCE)
        spec = subscriber.spec
        if (
            spec is None
            or self.subscribers.get((subscriber.namespace, subscriber.name)) is not subscriber
        ):
            return True  # the Subscriber went, or its spec is invalid now: nothing to send to
        if self.clock() > delivery.until:
            self._finish(subscriber, news, "expired")
            return True
        delivery.attempts += 1
        try:
            destination = await self._destination(subscriber)
            subscriber.lane.limit = LANE if destination.webhook else APPRISE_LANE
            headers = {KEY_HEADER: delivery.key, EVENT_HEADER: str(news.event)}
            title = text = ""
            if destination.webhook:
                if delivery.payload is None:
                    delivery.payload = encode(render_webhook(news, delivery.key))
                signing = spec.signing_secret_ref
                if signing is not None:
                    secret = await self._secret(subscriber.namespace, signing.name, signing.key)
                    headers[SIGNATURE_HEADER] = sign(delivery.payload, secret)
            else:
                title, text = render_text(news)
        except (DestinationError, api.SecretError) as problem:
            # Nothing to retry until someone fixes it; the condition says what.
            if isinstance(problem, api.SecretError):
                subscriber.problem = Verdict(
                    False, Reason.SECRET_NOT_FOUND, f"{problem} (spec.signingSecretRef)"
                )
            self._finish(subscriber, news, "failed")
            return True
        except Exception as failure:
            if not transient(failure):
                raise
            error = f"reading the destination failed: {failure}"
        else:
            await self._room(subscriber)
            subscriber.outstanding += 1
            try:
                await self.channels.send(destination, title, text, delivery.payload or b"", headers)
            except BaseException as failure:
                self._unhold(subscriber, 1)
                if not isinstance(failure, SendError):
                    raise
                error = str(failure)
            else:
                subscriber.delivered[delivery.key] = delivery.until
                subscriber.unrecorded += 1
                if subscriber.problem is not None and (
                    subscriber.problem.reason == Reason.DELIVERY_FAILED
                ):
                    subscriber.problem = None
                self._finish(subscriber, news, "sent")
                return True
        if delivery.attempts < ATTEMPTS:
            metrics.NOTIFICATIONS.labels(result="retried").inc()
            delay = backoff(self.retry_base, delivery.attempts)
            logger.warning(
                "Subscriber %s/%s: %s for %s; retrying in %.1fs",
                subscriber.namespace,
                subscriber.name,
                error,
                news.event,
                delay,
            )
            self._retry_later(subscriber, news.object_uid, delay)
            return False
        message = f"{news.event} not delivered after {ATTEMPTS} attempts: {error}"
        subscriber.problem = Verdict(False, Reason.DELIVERY_FAILED, message[:1000])
        self._finish(subscriber, news, "failed")
        return True

    def _finish(self, subscriber: SubscriberEntry, news: News, result: str) -> None:
        metrics.NOTIFICATIONS.labels(result=result).inc()
        if result in ("sent", "failed"):
            subscriber.counts[result] += 1
        subscriber.last = {
            "at": format_time(self.clock()),
            "event": str(news.event),
            "object": news.name,
            "result": result,
        }
        self._flush_soon(subscriber)

    # -- the record --------------------------------------------------------------------------

    async def _room(self, entry: SubscriberEntry) -> None:
        """Wait while UNRECORDED of the subscriber's deliveries are sent or being sent, and not
        recorded: what a crash can make it send twice."""
        while entry.outstanding >= UNRECORDED and not entry.unwritable:
            entry.room.clear()
            entry.full.set()
            await entry.room.wait()
        entry.full.clear()

    def _unhold(self, entry: SubscriberEntry, count: int) -> None:
        entry.outstanding -= count
        entry.room.set()

    def _flush_soon(self, subscriber: SubscriberEntry) -> None:
        key = (subscriber.namespace, subscriber.name)
        subscriber.dirty = True
        if key in self._flushes:
            return

        async def later() -> None:
            loop = asyncio.get_running_loop()
            try:
                while subscriber.dirty:
                    # Like the sends: the status writes of a burst first.
                    await self.writer.idle(PATIENCE)
                    subscriber.dirty = False
                    taken = subscriber.unrecorded
                    began = loop.time()
                    try:
                        await self._write(subscriber)
                    except Exception:
                        logger.exception("recording deliveries of Subscriber %s/%s failed", *key)
                        # Sends do not wait for a record that cannot be written: they go on.
                        subscriber.unwritable = True
                        subscriber.room.set()
                        subscriber.dirty = True
                        await asyncio.sleep(RECORD_RETRY)
                        continue
                    subscriber.unwritable = False
                    subscriber.unrecorded -= taken
                    self._unhold(subscriber, taken)
                    if subscriber.outstanding < UNRECORDED:
                        # A burst's deliveries are recorded together, a few writes a second
                        # (sooner when the sends wait for the record).
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(
                                subscriber.full.wait(), RECORD_INTERVAL - (loop.time() - began)
                            )
            finally:
                del self._flushes[key]

        self._flushes[key] = asyncio.create_task(later(), name=f"record {key[0]}/{key[1]}")

    async def _write(self, entry: SubscriberEntry) -> None:
        """Write the subscriber's status: what differs, with a Warning Event for a new problem."""
        key = (entry.namespace, entry.name)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if self.subscribers.get(key) is not entry:
                return
            now = self.clock()
            entry.delivered = prune(entry.delivered, now, RECORD_LIMIT)
            current = entry.recorded.status
            verdict = self.verdict(entry)
            desired = subscriber_status(
                entry.delivered,
                entry.counts,
                entry.last,
                current,
                verdict,
                entry.generation,
                now,
            )
            patch = {k: v for k, v in desired.items() if current.get(k) != v}
            if not patch:
                return
            old_ready: dict[str, Any] = next(
                (c for c in current.get("conditions") or () if c.get("type") == "Ready"), {}
            )
            notices: list[Notice] = []
            if not verdict.ready and (old_ready.get("reason"), old_ready.get("message")) != (
                str(verdict.reason),
                verdict.message,
            ):
                notices = make_notices(
                    entry.name, entry.uid, now, [(verdict.reason, verdict.message, True)]
                )
            for attempt in range(5):
                try:
                    stored = await api.patch_status(self.client, entry.namespace, entry.name, patch)
                    break
                except NotFoundError:
                    return
                except Exception as error:
                    if not transient(error) or attempt == 4:
                        raise
                    await asyncio.sleep(0.2 * 2**attempt)
            entry.recorded.update(stored)
        for notice in notices:
            logger.warning(
                "Subscriber %s/%s: %s: %s",
                entry.namespace,
                entry.name,
                notice.reason,
                notice.message,
            )
        self.writer.announcer.announce(entry.ref, notices)

    async def close(self) -> None:
        """Record what was delivered, then stop (deliveries still in flight are dropped)."""
        if self._recheck is not None:
            self._recheck.cancel()
        for handle in self._retries:
            handle.cancel()
        self._retries.clear()
        for task in list(self._workers):
            task.cancel()
        flushes = list(self._flushes.values())
        if flushes:
            await asyncio.wait(flushes, timeout=5)
        await self.channels.close()
