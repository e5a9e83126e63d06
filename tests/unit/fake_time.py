"""Time in tests: a wall clock that moves when told, kopf's stop flag, and waiting for what runs
in the background.

`FakeClock` moves only when told, or when its `sleep()` is awaited (a daemon's sleep until its
next edge takes no time). `FakeStop` is the flag kopf hands a daemon. `eventually` waits for
background work to show in the fakes, which signal nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass
class FakeClock:
    """A wall clock that moves only when told."""

    now: datetime = field(default_factory=lambda: datetime(2026, 5, 10, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward; returns the new now."""
        self.now += timedelta(seconds=seconds)
        return self.now

    def set(self, now: datetime) -> None:
        """Jump to an instant (forward or back, as a stepped wall clock does)."""
        self.now = now

    async def sleep(self, seconds: float) -> None:
        """A sleep that takes no time: the clock moves on by `seconds` and the loop turns once."""
        self.advance(seconds)
        await asyncio.sleep(0)


class FakeStop:
    """kopf's `stopped` flag as a daemon sees it: truthy once set, and awaitable."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def __bool__(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> bool:
        """Until it is set."""
        return await self._event.wait()

    def set(self) -> None:
        """Ask the daemon to stop."""
        self._event.set()


async def eventually(check: Callable[[], bool], patience: float = 5.0) -> None:
    """Poll `check` (it reads fakes, which signal nothing) until it holds; AssertionError after
    `patience` seconds."""
    step = 0.002
    for _ in range(int(patience / step)):
        if check():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"not true within {patience} s")
