"""The scheduler's heap and the work queue's promises, without a cluster or a real clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from statuspage_operator.control.scheduler import Scheduler
from statuspage_operator.control.workqueue import WorkQueue

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def make_scheduler() -> tuple[Scheduler[str], list[str]]:
    """A scheduler at a fixed NOW, collecting what becomes due."""
    due: list[str] = []
    return Scheduler(lambda: NOW, due.extend), due


def test_only_due_keys_are_popped() -> None:
    """Keys whose edge is at or before now are due; later ones wait."""
    scheduler, _ = make_scheduler()
    scheduler.schedule("a", NOW - SECOND)
    scheduler.schedule("b", NOW)
    scheduler.schedule("c", NOW + SECOND)
    assert sorted(scheduler.pop_due(NOW)) == ["a", "b"]
    assert scheduler.next_edge() == NOW + SECOND


def test_rescheduling_replaces_the_old_edge() -> None:
    """Only a key's latest edge counts: an edited window does not fire at its old time."""
    scheduler, _ = make_scheduler()
    scheduler.schedule("w", NOW - SECOND)
    scheduler.schedule("w", NOW + SECOND)
    assert scheduler.pop_due(NOW) == []
    assert scheduler.pop_due(NOW + SECOND) == ["w"]


def test_forgetting_a_key() -> None:
    """Scheduling None drops the key (a completed window)."""
    scheduler, _ = make_scheduler()
    scheduler.schedule("w", NOW)
    scheduler.schedule("w", None)
    assert scheduler.pop_due(NOW) == []
    assert len(scheduler) == 0


def test_many_keys_share_one_edge() -> None:
    """A thousand windows starting at one instant are all due at once."""
    scheduler, _ = make_scheduler()
    for index in range(1000):
        scheduler.schedule(f"w{index}", NOW)
    assert len(scheduler.pop_due(NOW)) == 1000


def test_queue_deduplicates() -> None:
    """A key added twice while queued is processed once."""

    async def scenario() -> list[str]:
        queue: WorkQueue[str] = WorkQueue()
        queue.add(["a", "b", "a"])
        taken = [await queue.get(), await queue.get()]
        queue.done("a")
        queue.done("b")
        assert queue.idle
        return taken

    assert asyncio.run(scenario()) == ["a", "b"]


def test_queue_requeues_a_key_changed_while_in_flight() -> None:
    """A key added while a worker holds it comes back after done(), never concurrently."""

    async def scenario() -> tuple[int, str]:
        queue: WorkQueue[str] = WorkQueue()
        queue.add(["a"])
        key = await queue.get()
        queue.add(["a"])
        waiting = len(queue)
        queue.done(key)
        return waiting, await queue.get()

    assert asyncio.run(scenario()) == (0, "a")
