"""The window daemon's timing: settle at each edge, capped sleeps, the wall clock re-read."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from statuspage_operator.control.edges import CAP, delay_until, follow_edges

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
START = NOW + timedelta(minutes=3)
END = NOW + timedelta(minutes=63)


class FakeTime:
    """A wall clock that moves only when the daemon sleeps (optionally drifting)."""

    def __init__(self, drift: float = 0.0) -> None:
        self.now = NOW
        self.drift = drift
        self.sleeps: list[float] = []

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds * (1 + self.drift))


def window_settler(
    time: FakeTime, settled: list[datetime], stop_after: datetime
) -> tuple[Callable[[datetime], Awaitable[datetime | None]], Callable[[], bool]]:
    """A one-off window's settle: records each call's now and returns the next edge."""

    async def settle(now: datetime) -> datetime | None:
        settled.append(now)
        if now < START:
            return START
        if now < END:
            return END
        return None

    return settle, lambda: time.now > stop_after


def run(time: FakeTime, stop_after: datetime) -> list[datetime]:
    settled: list[datetime] = []
    settle, stopped = window_settler(time, settled, stop_after)
    asyncio.run(follow_edges(settle, time.clock, time.sleep, stopped))
    return settled


@pytest.mark.parametrize(
    ("edge", "expected"),
    [
        pytest.param(NOW + timedelta(seconds=2), 2.0, id="soon"),
        pytest.param(NOW - timedelta(seconds=2), 0.0, id="past-is-now"),
        pytest.param(NOW + timedelta(days=3), CAP, id="far-is-capped"),
        pytest.param(None, CAP, id="no-edge-is-capped"),
    ],
)
def test_delay_until(edge: datetime | None, expected: float) -> None:
    """The sleep before an edge: its distance, never negative, at most the cap."""
    assert delay_until(edge, NOW) == expected


def test_settles_exactly_at_start_and_end() -> None:
    """With a true clock the daemon settles at NOW, START (after the cap) and END."""
    time = FakeTime()
    settled = run(time, stop_after=END)
    assert START in settled
    assert END in settled
    assert settled[0] == NOW
    # 3 minutes fit in one sleep; an hour takes capped sleeps of 5 minutes.
    assert all(s <= CAP for s in time.sleeps)
    assert settled.index(END) - settled.index(START) == 12


def test_fast_loop_clock_re_reads_the_wall_clock() -> None:
    """A sleep that ends early by the wall clock settles again, then sleeps the rest."""
    time = FakeTime(drift=-0.01)
    settled = run(time, stop_after=END)
    starts = [s for s in settled if START <= s < END]
    assert starts
    assert starts[0] - START < timedelta(milliseconds=1)
    assert any(s < START for s in settled[1:])


def test_stepped_clock_is_noticed_within_the_cap() -> None:
    """If the wall clock jumps past the start, the next waking settles at the new now."""
    time = FakeTime()
    settled: list[datetime] = []
    settle, _ = window_settler(time, settled, END)
    steps = iter([timedelta(hours=2)])

    async def sleep(seconds: float) -> None:
        time.sleeps.append(seconds)
        time.now += next(steps, timedelta(seconds=seconds))

    asyncio.run(follow_edges(settle, time.clock, sleep, lambda: len(settled) >= 2))
    assert settled == [NOW, NOW + timedelta(hours=2)]
    assert time.sleeps[0] == 180.0


def test_stopped_before_sleeping_returns_at_once() -> None:
    """A daemon stopped during its settle does not sleep again."""
    time = FakeTime()
    calls: list[datetime] = []

    async def settle(now: datetime) -> datetime | None:
        calls.append(now)
        return START

    asyncio.run(follow_edges(settle, time.clock, time.sleep, lambda: bool(calls)))
    assert calls == [NOW]
    assert time.sleeps == []
