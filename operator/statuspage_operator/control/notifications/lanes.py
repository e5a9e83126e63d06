"""Per-subscriber lanes: each subscriber's deliveries, in order per object, a few at a time.

Each subscriber has a lane of its own: at most `Lane.limit` sends at once (LANE for webhooks,
APPRISE_LANE for Apprise channels, whose sends each hold one of its threads), in order per object
(a subscriber hears that an incident was created before it hears it was updated). A lane is worked
by tasks that live while it has deliveries ready, so a slow or dead endpoint holds only its own
lane, and an idle subscriber costs no task. A delivery to try again waits on a timer
(`loop.call_later`), not in a task; meanwhile its lane goes on with other objects' deliveries.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from statuspage_operator.api.webhook import News

if TYPE_CHECKING:
    from statuspage_operator.control.notifications.subscribers import Subscriber

logger = logging.getLogger(__name__)

LANE = 8
APPRISE_LANE = 2


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


# One attempt at a delivery: None when it is done with (sent, failed for good, expired, dropped),
# else the seconds to wait before the next attempt.
Attempt = Callable[[Delivery], Awaitable[float | None]]


class Lanes:
    """The deliveries in flight, in their subscribers' lanes, and the timers of their retries."""

    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt
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
                delivery = lane.chains[chain][0]
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

    def _next(self, subscriber: Subscriber, chain: str) -> None:
        """The object's delivery in front is done: let its next one go."""
        waiting = subscriber.lane.chains[chain]
        delivery = waiting.popleft()
        self._keys.discard(delivery.key)
        self._owed[delivery.notice] -= 1
        if self._owed[delivery.notice] <= 0:
            del self._owed[delivery.notice]
        if waiting:
            self._ready(subscriber, chain)
        else:
            del subscriber.lane.chains[chain]

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
