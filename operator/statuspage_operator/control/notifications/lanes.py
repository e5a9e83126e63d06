"""Per-subscriber lanes: each subscriber's deliveries, in order per object, a few at a time.

Each subscriber has a lane of its own: at most `Lane.limit` sends at once (LANE for webhooks,
APPRISE_LANE for Apprise channels, whose sends each hold one of its threads), in order per object
(a subscriber hears that an incident was created before it hears it was updated). A lane is worked
by tasks that live while it has deliveries ready, so a slow or dead endpoint holds only its own
lane, and an idle subscriber costs no task. A delivery to try again waits on a timer
(`loop.call_later`), not in a task; meanwhile its lane goes on with other objects' deliveries.

Each object's news to one subscriber keeps to its budget (domain/notifications.py): once
PER_OBJECT_HOURLY went out within an hour, the object's next news waits on a timer too, and all
that gathered meanwhile goes as one digest when the budget frees: the latest news, saying how many
it stands for. The digest's send records every key it stands for, so none is sent again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from statuspage_operator.api.news import digest
from statuspage_operator.api.webhook import News
from statuspage_operator.domain.notifications import (
    BUDGET_WINDOW,
    END_GRACE,
    PER_OBJECT_HOURLY,
    budget_frees,
)

if TYPE_CHECKING:
    from statuspage_operator.control.notifications.subscribers import Subscriber

logger = logging.getLogger(__name__)

LANE = 8
APPRISE_LANE = 2
# An object held for its budget is looked at again at least this often (seconds): a stepped wall
# clock is noticed.
RECHECK_HELD = 60.0
# Past this many objects, a lane forgets the send times of those quiet for an hour.
SENT_OBJECTS = 256


@dataclass(slots=True)
class Delivery:
    """One piece of news for one subscriber."""

    subscriber: Subscriber
    news: News
    key: str
    until: datetime
    # The notice (its Event name) the news comes from: recorded while deliveries are owed.
    notice: str
    attempts: int = 0
    payload: bytes | None = None
    # The earlier deliveries of the same object this one stands for (a digest).
    folded: tuple[Delivery, ...] = ()

    @property
    def chain(self) -> str:
        """What the delivery is about: one object's deliveries go in order."""
        return self.news.object_uid


@dataclass(slots=True)
class Lane:
    """One subscriber's deliveries: per object, in order; the objects whose next can go now."""

    chains: dict[str, deque[Delivery]] = field(default_factory=dict)
    ready: deque[str] = field(default_factory=deque)
    workers: int = 0
    limit: int = LANE
    # Per object: when its latest notifications went (the last PER_OBJECT_HOURLY).
    sent: dict[str, deque[datetime]] = field(default_factory=dict)
    # Objects whose news waits for the budget.
    held: set[str] = field(default_factory=set)


# One attempt at a delivery: None when it is done with (sent, failed for good, expired, dropped),
# else the seconds to wait before the next attempt.
Attempt = Callable[[Delivery], Awaitable[float | None]]


class Lanes:
    """The deliveries in flight, in their subscribers' lanes, and the timers of their retries."""

    def __init__(
        self,
        attempt: Attempt,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        recheck: float = RECHECK_HELD,
    ) -> None:
        self._attempt = attempt
        self._clock = clock
        self._recheck = recheck
        self._keys: set[str] = set()
        # Notices (by Event name) with deliveries still in flight.
        self._owed: Counter[str] = Counter()
        self._workers: set[asyncio.Task[None]] = set()
        self._retries: set[asyncio.TimerHandle] = set()

    def has(self, key: str) -> bool:
        """Whether a delivery of this key is in flight."""
        return key in self._keys

    def owes(self, notice: str) -> bool:
        """Whether deliveries of a notice are still in flight (its record must stay)."""
        return self._owed.get(notice, 0) > 0

    def start(self, delivery: Delivery) -> None:
        """Queue a delivery behind the ones of the same object; it goes when they are done."""
        self._keys.add(delivery.key)
        self._owed[delivery.notice] += 1
        lane = delivery.subscriber.lane
        waiting = lane.chains.get(delivery.chain)
        if waiting is not None:
            waiting.append(delivery)
            if delivery.chain in lane.held:
                self._fold(waiting)
            return
        lane.chains[delivery.chain] = deque([delivery])
        self._ready(delivery.subscriber, delivery.chain)

    def _ready(self, subscriber: Subscriber, chain: str) -> None:
        """The object's next delivery can go: a worker of the lane takes it (one more if room)."""
        lane = subscriber.lane
        lane.ready.append(chain)
        if lane.workers < lane.limit:
            lane.workers += 1
            task = asyncio.create_task(
                self._work(subscriber), name=f"deliver to {subscriber.namespace}/{subscriber.name}"
            )
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)

    async def _work(self, subscriber: Subscriber) -> None:
        """A worker of one lane: send while deliveries are ready, then end."""
        lane = subscriber.lane
        try:
            # A lane whose limit went down loses its extra workers as they finish a send.
            while lane.ready and lane.workers <= lane.limit:
                chain = lane.ready.popleft()
                delivery = self._take(subscriber, chain)
                if delivery is None:
                    continue
                try:
                    again = await self._attempt(delivery)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("delivery %s failed unexpectedly", delivery.key)
                    again = None
                if again is None:
                    self._next(subscriber, chain)
                else:
                    self._retry_later(subscriber, chain, again)
        finally:
            lane.workers -= 1

    def _take(self, subscriber: Subscriber, chain: str) -> Delivery | None:
        """The object's delivery to attempt now; None while it waits for the object's budget."""
        lane = subscriber.lane
        waiting = lane.chains[chain]
        if waiting[0].attempts:
            return waiting[0]  # a retry: it was let go already
        now = self._clock()
        frees = budget_frees(lane.sent.get(chain, ()), now)
        if frees is not None:
            lane.held.add(chain)
            self._fold(waiting)
            delay = min(self._recheck, (frees - now).total_seconds())
            self._retry_later(subscriber, chain, max(delay, 0.0))
            return None
        if chain in lane.held:
            lane.held.discard(chain)
            held = waiting[0]
            if held.folded:
                # The latest news goes, standing for the rest; never too late to be sent.
                news = digest(held.news, len(held.folded), held.folded[0].news.at)
                until = max(held.until, now + END_GRACE)
                waiting[0] = replace(held, news=news, until=until)
        return waiting[0]

    def _fold(self, waiting: deque[Delivery]) -> None:
        """Collapse a held object's waiting news into the latest, which stands for the rest.

        The earlier news is no longer owed: only the latest notice must stay recorded in its
        object's status (a crash meanwhile sends the latest news, without the count), which keeps
        the notices of a flapping object within the status' bound. Their keys stay in flight
        until the digest is sent, and are recorded with it.
        """
        if len(waiting) < 2:
            return
        *earlier, latest = waiting
        folded: list[Delivery] = []
        for delivery in earlier:
            folded += [*delivery.folded, replace(delivery, folded=())]
            self._release(delivery.notice)
        waiting.clear()
        waiting.append(replace(latest, folded=(*folded, *latest.folded)))

    def _release(self, notice: str) -> None:
        """One delivery of a notice is no longer owed."""
        self._owed[notice] -= 1
        if self._owed[notice] <= 0:
            del self._owed[notice]

    def _next(self, subscriber: Subscriber, chain: str) -> None:
        """The object's delivery in front is done: let its next one go."""
        lane = subscriber.lane
        waiting = lane.chains[chain]
        delivery = waiting.popleft()
        if delivery.attempts:
            self._count(lane, chain)
        if delivery.folded and delivery.key in subscriber.ledger.delivered:
            # Recorded with the digest's own key (its record flush is on its way).
            for earlier in delivery.folded:
                subscriber.ledger.delivered.setdefault(earlier.key, earlier.until)
        for done in (delivery, *delivery.folded):
            self._keys.discard(done.key)
        self._release(delivery.notice)
        if waiting:
            self._ready(subscriber, chain)
        else:
            del subscriber.lane.chains[chain]

    def _count(self, lane: Lane, chain: str) -> None:
        """One more notification about the object went out (or failed for good) now."""
        now = self._clock()
        lane.sent.setdefault(chain, deque(maxlen=PER_OBJECT_HOURLY)).append(now)
        if len(lane.sent) > SENT_OBJECTS:
            quiet = [
                c
                for c, times in lane.sent.items()
                if c not in lane.chains and now - times[-1] >= BUDGET_WINDOW
            ]
            for c in quiet:
                del lane.sent[c]

    def _retry_later(self, subscriber: Subscriber, chain: str, delay: float) -> None:
        """Try the object's delivery in front again after a while (its lane goes on meanwhile)."""

        def again() -> None:
            self._retries.discard(handle)
            self._ready(subscriber, chain)

        handle = asyncio.get_running_loop().call_later(delay, again)
        self._retries.add(handle)

    def close(self) -> None:
        """Stop: retries are not made, sends on their way are cancelled."""
        for handle in self._retries:
            handle.cancel()
        self._retries.clear()
        for task in list(self._workers):
            task.cancel()
