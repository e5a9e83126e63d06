"""The one retry policy: every call the operator tries again waits the same way.

After failed attempt n (1, 2, ...), if attempts remain, the next comes base * 2**(n-1) seconds
later, stretched by up to a tenth at random so that a burst of failures does not come back in
lockstep. What differs per use is only the base, the number of attempts and which errors are worth
another attempt:

- STATUS_WRITES: a kind's status patch (control/writer.py): first again after 0.5 s, 15.5 s in
  all, so what a page shows outlives a short API server outage.
- EVENTS: an Event's post (control/writer.py, Announcer): 7.5 s in all; one left unposted is
  carried by the object's next status write.
- SUBSCRIBER_WRITES: a Subscriber's status, its record of deliveries included
  (control/notifications/subscribers.py): 3 s in all; the record's flush tries again later.
- deliveries: `--notify-retry-base` (30 s), 3 attempts (control/notifications/deliveries.py). A
  delivery waits on a timer of its lane, not in a task, so it uses `RetryPolicy` without
  `retrying`.

Every call `retrying` makes goes to the API server, so one success tells every other retry that
the server answers again: `API_SERVER.answered()` wakes them all from their back-off at once. After
a stall (a stopped or partitioned kube-apiserver) the back-off had grown to 4-8 s, and the
components' writes, which the windows' writes wait for, came that much after it: the stall cost
its own length plus the back-off (4.1 s of 4.1 s measured, tests/bench/stall.py).

`ACTING` is the Lease's gate (k8s/lease.py, main.py): while a leader cannot know it still holds
the Lease, every attempt waits before it is made, instead of the process exiting and the next
leader paying a cold start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from statuspage_operator.k8s.client import transient

logger = logging.getLogger(__name__)

T = TypeVar("T")

JITTER = 0.1


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a call is tried, and how long it waits in between (doubling from `base`)."""

    base: float
    attempts: int = 5

    def delay(self, attempt: int, spread: float = 0.0) -> float:
        """Seconds to wait after failed attempt `attempt` (1, 2, ...); `spread` in [0, 1)
        stretches it by up to JITTER."""
        return float(self.base * 2 ** (attempt - 1) * (1 + JITTER * spread))

    def again(self, attempt: int) -> bool:
        """Whether failed attempt `attempt` is followed by another."""
        return attempt < self.attempts


class Wakeup:
    """Futures waiting for one signal, on whichever event loop they were made (tests run many)."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def fire(self) -> None:
        """Wake every waiter."""
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                with contextlib.suppress(RuntimeError):  # its loop is closed: nothing waits
                    waiter.get_loop().call_soon_threadsafe(_resolve, waiter)

    async def wait(self, seconds: float | None = None) -> None:
        """Until `fire` (or `seconds` have passed)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, seconds)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class ApiServer:
    """What every API call's retry shares: the news that the server answers again."""

    def __init__(self) -> None:
        self._answered = Wakeup()

    def answered(self) -> None:
        """A call succeeded: the retries waiting out a back-off try again now."""
        self._answered.fire()

    async def back_off(self, seconds: float) -> None:
        """Wait `seconds`, or less if another call gets an answer meanwhile."""
        await self._answered.wait(seconds)


class Gate:
    """Whether this process may act: shut while a leader cannot know it holds the Lease."""

    def __init__(self) -> None:
        self._shut = False
        self._opened = Wakeup()

    @property
    def shut(self) -> bool:
        """Whether calls wait."""
        return self._shut

    def close(self) -> None:
        """From now on, every attempt waits until `open`."""
        self._shut = True

    def open(self) -> None:
        """Let every waiting attempt go."""
        self._shut = False
        self._opened.fire()

    async def passed(self) -> None:
        """Return once the gate is open (at once when it is)."""
        while self._shut:
            await self._opened.wait()


API_SERVER = ApiServer()
ACTING = Gate()

STATUS_WRITES = RetryPolicy(base=0.5, attempts=6)
EVENTS = RetryPolicy(base=0.5)
SUBSCRIBER_WRITES = RetryPolicy(base=0.2)


async def retrying(
    policy: RetryPolicy,
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    retryable: Callable[[Exception], bool] = transient,
    on_retry: Callable[[Exception], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = API_SERVER.back_off,
    spread: Callable[[], float] = random.random,
) -> T:
    """The call's result; its last error once the policy gives up or an error is not retryable.

    `what` names the call in the warning logged before each wait ("writing the status of ...").
    Each attempt first passes the `ACTING` gate; a success wakes the other retries (API_SERVER).
    """
    attempt = 0
    while True:
        attempt += 1
        await ACTING.passed()
        try:
            result = await call()
        except Exception as error:
            if not retryable(error) or not policy.again(attempt):
                raise
            delay = policy.delay(attempt, spread())
            if on_retry is not None:
                on_retry(error)
            logger.warning("%s failed (%s); retrying in %.1fs", what, error, delay)
            await sleep(delay)
        else:
            API_SERVER.answered()
            return result
