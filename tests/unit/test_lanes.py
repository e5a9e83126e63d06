"""Each subscriber's lane: in order per object, a few at a time, retries on a timer; the record's
bound on unrecorded sends."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime

from statuspage_operator.api.webhook import News
from statuspage_operator.control.notifications.lanes import Delivery, Lanes
from statuspage_operator.control.notifications.record import UNRECORDED, Ledger
from statuspage_operator.control.notifications.subscribers import Subscriber
from statuspage_operator.domain.notifications import NotificationEvent
from unit.fake_time import eventually

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def make_subscriber(name: str = "s", limit: int = 8) -> Subscriber:
    """A subscriber whose lane takes `limit` sends at once."""
    subscriber = Subscriber(f"uid-{name}", "default", name, 1, None)
    subscriber.lane.limit = limit
    return subscriber


def make_delivery(subscriber: Subscriber, obj: str, n: int) -> Delivery:
    """Delivery `n` about object `obj`, of notice `<obj>.<n>`."""
    news = News(
        NotificationEvent.INCIDENT_UPDATED,
        page="example",
        page_title="Example",
        time_zone="UTC",
        page_url=None,
        object_uid=obj,
        name=obj,
        title=obj,
        at=NOW,
    )
    return Delivery(subscriber, news, f"{obj}-{n}", NOW, f"{obj}.{n}")


class Recorder:
    """An attempt that records when each delivery starts and ends, and how many run at once."""

    def __init__(self, retry: dict[str, float] | None = None) -> None:
        self.log: list[tuple[str, str]] = []
        self.retry = dict(retry or {})
        self.peak = 0
        self.per_object_peak: dict[str, int] = defaultdict(int)
        self._active = 0
        self._per_object: dict[str, int] = defaultdict(int)

    async def __call__(self, delivery: Delivery) -> float | None:
        self._active += 1
        self._per_object[delivery.chain] += 1
        self.peak = max(self.peak, self._active)
        self.per_object_peak[delivery.chain] = max(
            self.per_object_peak[delivery.chain], self._per_object[delivery.chain]
        )
        self.log.append(("start", delivery.key))
        try:
            await asyncio.sleep(0.001)
        finally:
            self._active -= 1
            self._per_object[delivery.chain] -= 1
        delay = self.retry.pop(delivery.key, None)
        self.log.append(("retry" if delay is not None else "done", delivery.key))
        return delay

    def done(self) -> list[str]:
        return [key for what, key in self.log if what == "done"]


async def until_done(recorder: Recorder, count: int) -> None:
    """Wait (at most 5 s) until `count` deliveries are done."""
    await eventually(lambda: len(recorder.done()) >= count)


def test_one_object_s_deliveries_go_in_order_and_the_lane_holds_its_limit() -> None:
    """4 objects x 3 deliveries, a lane of 2: at most 2 at once, one per object, in order."""
    recorder = Recorder()

    async def scenario() -> None:
        lanes = Lanes(recorder)
        subscriber = make_subscriber(limit=2)
        for n in range(3):
            for obj in "abcd":
                lanes.start(make_delivery(subscriber, obj, n))
        await until_done(recorder, 12)

    asyncio.run(scenario())
    done = recorder.done()
    for obj in "abcd":
        assert [k for k in done if k.startswith(obj)] == [f"{obj}-0", f"{obj}-1", f"{obj}-2"]
    assert recorder.peak == 2
    assert max(recorder.per_object_peak.values()) == 1


def test_a_retry_holds_its_object_back_but_not_the_others() -> None:
    """a-0 fails once: a-1 waits for its retry; b's deliveries go meanwhile."""
    recorder = Recorder(retry={"a-0": 0.05})

    async def scenario() -> None:
        lanes = Lanes(recorder)
        subscriber = make_subscriber(limit=1)
        for key in ("a-0", "a-1", "b-0", "b-1"):
            obj, n = key.split("-")
            lanes.start(make_delivery(subscriber, obj, int(n)))
        await until_done(recorder, 4)

    asyncio.run(scenario())
    assert recorder.done() == ["b-0", "b-1", "a-0", "a-1"]
    starts = [key for what, key in recorder.log if what == "start"]
    assert starts == ["a-0", "b-0", "b-1", "a-0", "a-1"]


def test_lanes_of_two_subscribers_do_not_wait_for_each_other() -> None:
    """A subscriber with a retrying delivery does not hold another's."""
    recorder = Recorder(retry={"slow-0": 10.0})

    async def scenario() -> tuple[bool, bool]:
        lanes = Lanes(recorder)
        slow, fast = make_subscriber("slow"), make_subscriber("fast")
        lanes.start(make_delivery(slow, "slow", 0))
        lanes.start(make_delivery(fast, "fast", 0))
        await until_done(recorder, 1)
        owed = lanes.owes("slow.0"), lanes.has("slow-0")
        lanes.close()
        return owed

    assert asyncio.run(scenario()) == (True, True)
    assert recorder.done() == ["fast-0"]


def test_a_delivery_is_in_flight_and_owed_until_done() -> None:
    """has() and owes() while it is queued or sent; neither once it is done."""

    async def scenario() -> list[tuple[bool, bool]]:
        recorder = Recorder()
        lanes = Lanes(recorder)
        lanes.start(make_delivery(make_subscriber(), "a", 0))
        during = (lanes.has("a-0"), lanes.owes("a.0"))
        await until_done(recorder, 1)
        return [during, (lanes.has("a-0"), lanes.owes("a.0"))]

    assert asyncio.run(scenario()) == [(True, True), (False, False)]


def test_close_stops_the_retries_still_to_come() -> None:
    """A retry due after close() never runs."""
    recorder = Recorder(retry={"a-0": 0.02})

    async def scenario() -> None:
        lanes = Lanes(recorder)
        lanes.start(make_delivery(make_subscriber(), "a", 0))
        await eventually(lambda: ("retry", "a-0") in recorder.log)
        lanes.close()
        await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert [what for what, _ in recorder.log] == ["start", "retry"]


def test_sends_wait_while_unrecorded_ones_reach_the_bound() -> None:
    """At UNRECORDED sends not recorded, the next waits until a place is given back."""

    async def scenario() -> tuple[bool, bool, int]:
        ledger = Ledger(outstanding=UNRECORDED)
        waiter = asyncio.create_task(ledger.wait_for_room())
        await asyncio.sleep(0.01)
        blocked = not waiter.done() and ledger.full.is_set()
        ledger.release(1)
        await asyncio.wait_for(waiter, 1)
        return blocked, ledger.full.is_set(), ledger.outstanding

    assert asyncio.run(scenario()) == (True, False, UNRECORDED)


def test_sends_do_not_wait_for_a_record_that_cannot_be_written() -> None:
    """With the record unwritable, a send goes past the bound."""

    async def scenario() -> int:
        ledger = Ledger(outstanding=UNRECORDED, unwritable=True)
        await asyncio.wait_for(ledger.wait_for_room(), 1)
        return ledger.outstanding

    assert asyncio.run(scenario()) == UNRECORDED + 1
