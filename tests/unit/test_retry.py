"""The one retry policy, with a fake sleep and a fixed spread; and waiting for writes in flight."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from statuspage_operator.control.retry import (
    ACTING,
    EVENTS,
    JITTER,
    STATUS_WRITES,
    SUBSCRIBER_WRITES,
    RetryPolicy,
    retrying,
)
from statuspage_operator.control.writer import WritesInFlight
from statuspage_operator.k8s.client import ApiError, NotFoundError


class Flaky:
    """A call that fails with the given errors, one per attempt, then returns "done"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


class Sleeps:
    """A fake sleep: remembers how long it was asked to wait, waits not at all."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def run(
    policy: RetryPolicy,
    call: Flaky,
    sleeps: Sleeps,
    spread: float = 0.0,
    on_retry: Callable[[Exception], None] | None = None,
) -> str:
    """`retrying` on a fresh loop, with the fake sleep and a fixed spread."""
    return asyncio.run(
        retrying(
            policy,
            call,
            what="the call",
            sleep=sleeps,
            spread=lambda: spread,
            on_retry=on_retry,
        )
    )


BUSY = ApiError(503, "Service Unavailable")


@pytest.mark.parametrize(
    ("policy", "waits"),
    [
        pytest.param(RetryPolicy(30.0, 3), [30.0, 60.0], id="deliveries"),
        pytest.param(SUBSCRIBER_WRITES, [0.2, 0.4, 0.8, 1.6], id="subscriber-writes"),
        pytest.param(EVENTS, [0.5, 1.0, 2.0, 4.0], id="events"),
        pytest.param(STATUS_WRITES, [0.5, 1.0, 2.0, 4.0, 8.0], id="status-writes"),
    ],
)
def test_waits_double_from_the_base(policy: RetryPolicy, waits: list[float]) -> None:
    """Every use waits base, 2 base, 4 base, ... between its attempts."""
    assert [policy.delay(n) for n in range(1, policy.attempts)] == pytest.approx(waits)


def test_spread_stretches_a_wait_by_at_most_a_tenth() -> None:
    """The jitter only ever lengthens a wait, by less than JITTER of it."""
    policy = RetryPolicy(1.0)
    assert policy.delay(3, 0.0) == 4.0
    assert 4.0 < policy.delay(3, 0.999) < 4.0 * (1 + JITTER)


def test_transient_failures_are_retried_until_the_call_succeeds() -> None:
    """Two 503s, then success: the result, after two waits of the policy."""
    call, sleeps = Flaky(BUSY, OSError("reset")), Sleeps()
    assert run(RetryPolicy(0.2), call, sleeps) == "done"
    assert call.calls == 3
    assert sleeps.waits == pytest.approx([0.2, 0.4])


def test_the_last_error_is_raised_once_the_attempts_are_spent() -> None:
    """Three attempts, three failures: the third error, after two waits."""
    last = ApiError(500, "third")
    call, sleeps = Flaky(BUSY, BUSY, last), Sleeps()
    with pytest.raises(ApiError) as raised:
        run(RetryPolicy(1.0, attempts=3), call, sleeps)
    assert raised.value is last
    assert sleeps.waits == [1.0, 2.0]


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(NotFoundError(404, "gone"), id="not-found"),
        pytest.param(ApiError(422, "Invalid"), id="invalid"),
        pytest.param(ValueError("a bug"), id="not-an-api-error"),
    ],
)
def test_an_error_not_worth_retrying_is_raised_at_once(error: Exception) -> None:
    """No wait, no second attempt."""
    call, sleeps = Flaky(error), Sleeps()
    with pytest.raises(type(error)):
        run(RetryPolicy(1.0), call, sleeps)
    assert (call.calls, sleeps.waits) == (1, [])


def test_on_retry_hears_of_each_failure_that_is_retried() -> None:
    """Told of the two failures followed by another attempt, not of the final success."""
    heard: list[Exception] = []
    first, second = ApiError(500, "a"), ApiError(429, "b")
    run(RetryPolicy(0.1), Flaky(first, second), Sleeps(), on_retry=heard.append)
    assert heard == [first, second]


def test_the_spread_is_applied_to_each_wait() -> None:
    """A spread of one half: each wait is 5 % longer."""
    sleeps = Sleeps()
    run(RetryPolicy(1.0), Flaky(BUSY, BUSY), sleeps, spread=0.5)
    assert sleeps.waits == pytest.approx([1.05, 2.1])


def test_idle_says_whether_the_writes_in_flight_went_out() -> None:
    """At once when nothing is in flight; False after the patience; True when they end."""

    async def scenario() -> tuple[bool, bool, bool]:
        in_flight = WritesInFlight()
        at_once = await in_flight.idle(0)
        writing = in_flight.writing()
        writing.__enter__()
        timed_out = await in_flight.idle(0.01)
        asyncio.get_running_loop().call_later(0.01, writing.__exit__, None, None, None)
        ended = await in_flight.idle(1)
        return at_once, timed_out, ended

    assert asyncio.run(scenario()) == (True, False, True)


def test_a_success_wakes_the_retries_waiting_out_their_back_off() -> None:
    """After a stall, the first call answered sends every waiting retry again at once."""

    async def scenario() -> tuple[str, float]:
        down = Flaky(BUSY)
        started = time.monotonic()
        waiting = asyncio.create_task(
            retrying(RetryPolicy(30.0, 3), down, what="a write", spread=lambda: 0.0)
        )
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await retrying(EVENTS, Flaky(), what="another call")
        result = await asyncio.wait_for(waiting, 1.0)
        return result, time.monotonic() - started

    result, took = asyncio.run(scenario())
    assert result == "done"
    assert took < 1.0


def test_a_shut_gate_holds_every_attempt_and_idle_until_it_opens() -> None:
    """While the Lease is not known to be held, nothing is attempted, nor an Event/delivery."""

    async def scenario() -> tuple[int, int, bool]:
        call = Flaky()
        ACTING.close()
        try:
            attempt = asyncio.create_task(retrying(EVENTS, call, what="a write"))
            idle = asyncio.create_task(WritesInFlight().idle(0.01))
            await asyncio.sleep(0.2)
            held = call.calls, int(idle.done())
        finally:
            ACTING.open()
        await asyncio.wait_for(attempt, 1.0)
        return *held, await asyncio.wait_for(idle, 1.0)

    assert asyncio.run(scenario()) == (0, 0, True)
