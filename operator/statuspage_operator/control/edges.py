"""A window daemon's loop: settle at now, sleep until the next edge, re-read the clock on waking.

The sleep is on the event loop's monotonic clock, the edges are wall-clock instants: the sleep is
capped (a stepped or drifting wall clock is noticed within CAP) and the wall clock is read again on
every waking, so an early or late wake-up settles on what is true then. Settling is
level-triggered, so an extra waking writes nothing. The upstream CronJob controller v2 does the
same (requeue at the next schedule time).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

CAP = 300.0


class StopFlag(Protocol):
    """What the daemon is given to know it must stop: kopf's `stopped` (DaemonStopped)."""

    def __bool__(self) -> bool:
        """Whether it is set."""
        ...

    def wait(self) -> Awaitable[object]:
        """Wait until it is set."""
        ...


def delay_until(edge: datetime | None, now: datetime, cap: float = CAP) -> float:
    """Seconds to sleep before the next edge: at most `cap`, never negative."""
    if edge is None:
        return cap
    return min(cap, max(0.0, (edge - now).total_seconds()))


async def follow_edges(
    settle: Callable[[datetime], Awaitable[datetime | None]],
    clock: Callable[[], datetime],
    sleep: Callable[[float], Awaitable[None]],
    stopped: Callable[[], bool],
    cap: float = CAP,
) -> None:
    """Until stopped: settle at the wall clock's now, then sleep until the edge it returns."""
    while not stopped():
        edge = await settle(clock())
        if stopped():
            return
        await sleep(delay_until(edge, clock(), cap))
