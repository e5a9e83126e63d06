"""A work queue of object keys, as client-go's: deduplicated, one worker per key at a time.

A key added while queued is not queued twice; a key added while a worker holds it is queued again
once that worker is done, so the last change is never lost and no key is reconciled concurrently.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """FIFO of distinct keys with an in-flight set."""

    def __init__(self) -> None:
        self._order: deque[K] = deque()
        self._queued: set[K] = set()
        self._active: set[K] = set()
        self._again: set[K] = set()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._order)

    def add(self, keys: Iterable[K]) -> None:
        """Queue keys (no duplicates); keys being worked on are queued again after."""
        for key in keys:
            if key in self._active:
                self._again.add(key)
            elif key not in self._queued:
                self._queued.add(key)
                self._order.append(key)
        if self._order:
            self._ready.set()

    async def get(self) -> K:
        """Wait for a key and take it; call `done(key)` when finished."""
        while not self._order:
            self._ready.clear()
            await self._ready.wait()
        key = self._order.popleft()
        self._queued.discard(key)
        self._active.add(key)
        return key

    def done(self, key: K) -> None:
        """Release a key; requeue it if it changed meanwhile."""
        self._active.discard(key)
        if key in self._again:
            self._again.discard(key)
            self.add([key])

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing in flight."""
        return not self._order and not self._active
