"""One timer for all windows: a heap of next edges, fed by reconciles, as CronJob v2 does.

A per-object daemon costs ~44 KB and wakes late when many share an edge (kopf-notes.md); one heap
costs a tuple per window and wakes once for all keys due at the same instant. It sleeps until the
earliest edge (capped, to absorb wall-clock steps), re-reads the wall clock on waking, and hands
every due key to the work queue. Only the latest edge of a key counts; older entries are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import Callable, Hashable, Iterable
from datetime import datetime
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
MAX_SLEEP = 60.0


class Scheduler(Generic[K]):
    """Calls `due(keys)` at (or just after) each key's scheduled instant."""

    def __init__(self, clock: Callable[[], datetime], due: Callable[[Iterable[K]], None]) -> None:
        self._clock = clock
        self._due = due
        self._heap: list[tuple[datetime, int, K]] = []
        self._edge: dict[K, datetime] = {}
        self._counter = 0
        self._wake = asyncio.Event()

    def __len__(self) -> int:
        return len(self._edge)

    def schedule(self, key: K, when: datetime | None) -> None:
        """Make `when` the key's next edge (None: forget it)."""
        if when is None:
            self._edge.pop(key, None)
            return
        if self._edge.get(key) == when:
            return
        self._edge[key] = when
        self._counter += 1
        heapq.heappush(self._heap, (when, self._counter, key))
        if self._heap[0][2] == key and self._heap[0][0] == when:
            self._wake.set()

    def edge_of(self, key: K) -> datetime | None:
        """The key's scheduled edge, if any."""
        return self._edge.get(key)

    def pop_due(self, now: datetime) -> list[K]:
        """Take every key whose edge is at or before `now`."""
        due: list[K] = []
        while self._heap and self._heap[0][0] <= now:
            when, _, key = heapq.heappop(self._heap)
            if self._edge.get(key) == when:
                del self._edge[key]
                due.append(key)
        return due

    def next_edge(self) -> datetime | None:
        """The earliest live edge, dropping stale heap entries on the way."""
        while self._heap:
            when, _, key = self._heap[0]
            if self._edge.get(key) == when:
                return when
            heapq.heappop(self._heap)
        return None

    async def run(self) -> None:
        """Sleep until the next edge, wake, hand the due keys over; forever."""
        while True:
            self._wake.clear()
            now = self._clock()
            due = self.pop_due(now)
            if due:
                self._due(due)
            edge = self.next_edge()
            delay = MAX_SLEEP if edge is None else (edge - now).total_seconds()
            if delay <= 0:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=min(delay, MAX_SLEEP))
